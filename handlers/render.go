package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/provision"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/store"
)

// ContentType is the media type of every SCIM response.
const ContentType = "application/scim+json; charset=utf-8"

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer {
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		bufPool.Put(b)
	}
}

// writeBody sends a prepared JSON body.
func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeBody(w, status, b)
}

// writeError answers with a SCIM Error body. A *scim.Error answers the
// status of its code (statusOf); a store that cannot be reached is a 503 with
// Retry-After, and so is a change refused because its audit record could not
// go with it; anything else is a 500 whose cause is logged by the caller,
// never shown.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	se := asSCIMError(err)
	if errors.Is(err, store.ErrUnavailable) && se.Err == err {
		w.Header().Set("Retry-After", "5")
	}
	status := statusOf(se.Code)
	if status >= 500 {
		if ri := infoFrom(r.Context()); ri != nil && err != nil {
			ri.err = err
		}
	}
	b, _ := json.Marshal(scim.ErrorBody{Schemas: []string{scim.SchemaError}, Status: strconv.Itoa(status), ScimType: se.ScimType, Detail: se.Detail})
	writeBody(w, status, b)
}

// asSCIMError is the SCIM error err is answered with: err's own, or, for an
// error from below that is not one, what it means to the client.
func asSCIMError(err error) *scim.Error {
	if se, ok := scim.AsError(err); ok {
		return se
	}
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return &scim.Error{Code: scim.CodeUnavailable, Detail: "storage is unavailable; retry later", Err: err}
	case errors.Is(err, store.ErrFollow):
		// The change's own commit carried its audit record, and the
		// record could not be written: nothing was.
		se, _ := scim.AsError(provision.ErrNotRecorded)
		return se
	}
	return &scim.Error{Code: scim.CodeInternal, Detail: "internal error", Err: err}
}

// statuses maps the codes of the errors below the HTTP layer to statuses
// (RFC 7644 §3.12): the one place where a failure becomes a status.
var statuses = [...]int{
	scim.CodeInternal:         http.StatusInternalServerError,
	scim.CodeInvalid:          http.StatusBadRequest,
	scim.CodeUnauthorized:     http.StatusUnauthorized,
	scim.CodeForbidden:        http.StatusForbidden,
	scim.CodeNotFound:         http.StatusNotFound,
	scim.CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	scim.CodeNotAcceptable:    http.StatusNotAcceptable,
	scim.CodeConflict:         http.StatusConflict,
	scim.CodePrecondition:     http.StatusPreconditionFailed,
	scim.CodeTooLarge:         http.StatusRequestEntityTooLarge,
	scim.CodeUnsupportedMedia: http.StatusUnsupportedMediaType,
	scim.CodeTooManyRequests:  http.StatusTooManyRequests,
	scim.CodeNotImplemented:   http.StatusNotImplemented,
	scim.CodeUnavailable:      http.StatusServiceUnavailable,
}

// statusOf is the HTTP status of an error code.
func statusOf(c scim.Code) int {
	if int(c) < len(statuses) && statuses[c] != 0 {
		return statuses[c]
	}
	return http.StatusInternalServerError
}

func errNotFoundRoute(path string) error {
	return scim.NotFound("no such endpoint: %s", path)
}

// baseURL is the externally visible URL of the SCIM API for r.
func (s *Server) baseURL(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return strings.TrimSuffix(s.opts.BaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	host := r.Host
	if h := r.Header.Get("X-Forwarded-Host"); h != "" {
		host, _, _ = strings.Cut(h, ",")
	}
	return scheme + "://" + host + ScimPrefix
}

// renderer writes resources for one request.
type renderer struct {
	base       string
	rt         *scim.ResourceType
	attributes []scim.AttrPath
	excluded   []scim.AttrPath
}

func (rd *renderer) projecting() bool { return len(rd.attributes) > 0 || len(rd.excluded) > 0 }

func (rd *renderer) location(res *directory.Resource) string {
	return rd.base + rd.rt.Endpoint + "/" + res.ID
}

func writeString(b *bytes.Buffer, s string) {
	if !needsEscape(s) {
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
		return
	}
	j, _ := json.Marshal(s)
	b.Write(j)
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			return true
		}
	}
	return false
}

// write appends the JSON of res to b. Without a projection the stored body
// is spliced with the derived attributes and meta, with no decoding at all:
// this is the hot path of every IdP lookup.
func (rd *renderer) write(b *bytes.Buffer, res *directory.Resource) error {
	if rd.projecting() {
		full, err := rd.full(res)
		if err != nil {
			return err
		}
		j, err := json.Marshal(scim.Project(full, rd.rt, rd.attributes, rd.excluded))
		if err != nil {
			return err
		}
		b.Write(j)
		return nil
	}
	rd.splice(b, res)
	return nil
}

// splice writes res as its stored body with the derived relations and meta
// added, without decoding it.
func (rd *renderer) splice(b *bytes.Buffer, res *directory.Resource) {
	body := res.Body
	b.Write(body[:len(body)-1])
	rd.writeRelations(b, res)
	b.WriteString(`,"meta":`)
	rd.writeMeta(b, res)
	b.WriteByte('}')
}

func (rd *renderer) writeRelations(b *bytes.Buffer, res *directory.Resource) {
	switch {
	case res.GroupsLoaded && len(res.Groups) > 0:
		b.WriteString(`,"groups":[`)
		for i, gid := range res.Groups {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"value":"`)
			b.WriteString(gid)
			b.WriteString(`","$ref":`)
			writeString(b, rd.base+"/Groups/"+gid)
			b.WriteString(`,"type":"direct"}`)
		}
		b.WriteByte(']')
	case res.MembersLoaded && len(res.Members) > 0:
		b.WriteString(`,"members":[`)
		for i, m := range res.Members {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"value":`)
			writeString(b, m.Value)
			b.WriteString(`,"$ref":`)
			writeString(b, rd.base+"/Users/"+m.Value)
			if m.Display != "" {
				b.WriteString(`,"display":`)
				writeString(b, m.Display)
			}
			b.WriteString(`,"type":"User"}`)
		}
		b.WriteByte(']')
	}
}

func (rd *renderer) writeMeta(b *bytes.Buffer, res *directory.Resource) {
	b.WriteString(`{"resourceType":"`)
	b.WriteString(rd.rt.Name)
	b.WriteString(`","created":"`)
	b.WriteString(res.Created.UTC().Format(time.RFC3339Nano))
	b.WriteString(`","lastModified":"`)
	b.WriteString(res.Modified.UTC().Format(time.RFC3339Nano))
	b.WriteString(`","location":`)
	writeString(b, rd.location(res))
	b.WriteString(`,"version":`)
	writeString(b, res.Version())
	b.WriteByte('}')
}

// full is the complete representation of res as a map, for projections and
// filters.
func (rd *renderer) full(res *directory.Resource) (map[string]any, error) {
	b := getBuf()
	defer putBuf(b)
	rd.splice(b, res)
	dec := json.NewDecoder(bytes.NewReader(b.Bytes()))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}
