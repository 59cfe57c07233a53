package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/tokens"
)

// scim dispatches the routes under /scim/v2.
func (s *Server) scim(w http.ResponseWriter, r *http.Request) {
	if !acceptable(r.Header.Get("Accept")) {
		writeError(w, r, scim.Errorf(http.StatusNotAcceptable, "", "responses are application/scim+json; the Accept header %q does not allow it", r.Header.Get("Accept")))
		return
	}
	rest := strings.Trim(r.URL.Path[len(ScimPrefix):], "/")
	first, id, _ := strings.Cut(rest, "/")
	ri := infoFrom(r.Context())
	switch {
	case strings.EqualFold(first, "ServiceProviderConfig"):
		ri.route = ScimPrefix + "/ServiceProviderConfig"
		s.discovery(w, r, first, id)
		return
	case strings.EqualFold(first, "ResourceTypes"), strings.EqualFold(first, "Schemas"):
		ri.route = ScimPrefix + "/" + first
		s.discovery(w, r, first, id)
		return
	case strings.EqualFold(first, "Bulk"), strings.EqualFold(first, "Me"):
		ri.route = ScimPrefix + "/" + first
		writeError(w, r, scim.Errorf(http.StatusNotImplemented, "", "/%s is not supported (see /ServiceProviderConfig)", first))
		return
	}
	rt := s.resourceType(first)
	if rt == nil {
		ri.route = "other"
		writeError(w, r, errNotFoundRoute(r.URL.Path))
		return
	}
	ri.route = ScimPrefix + rt.Endpoint
	switch {
	case id == "":
		switch r.Method {
		case http.MethodGet:
			p, err := listParamsFromQuery(r)
			if err != nil {
				writeError(w, r, err)
				return
			}
			s.list(w, r, rt, p)
		case http.MethodPost:
			s.create(w, r, rt)
		default:
			methodNotAllowed(w, r, "GET, POST")
		}
	case id == ".search":
		ri.route += "/.search"
		if r.Method != http.MethodPost {
			methodNotAllowed(w, r, "POST")
			return
		}
		s.search(w, r, rt)
	default:
		ri.route += "/{id}"
		switch r.Method {
		case http.MethodGet:
			s.get(w, r, rt, id)
		case http.MethodPut:
			s.replace(w, r, rt, id)
		case http.MethodPatch:
			s.patch(w, r, rt, id)
		case http.MethodDelete:
			s.delete(w, r, rt, id)
		default:
			methodNotAllowed(w, r, "GET, PUT, PATCH, DELETE")
		}
	}
}

func (s *Server) resourceType(name string) *scim.ResourceType {
	switch {
	case strings.EqualFold(name, "Users"):
		return s.dir.UserType()
	case strings.EqualFold(name, "Groups"):
		return s.dir.GroupType()
	}
	return nil
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, r, scim.Errorf(http.StatusMethodNotAllowed, "", "method %s is not allowed here; use %s", r.Method, allow))
}

// acceptable reports whether an Accept header admits a SCIM JSON response.
func acceptable(accept string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if q, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				continue
			}
		}
		switch mt {
		case "*/*", "application/*", "application/scim+json", "application/json":
			return true
		}
	}
	return false
}

// readBody reads a JSON object request body: application/scim+json or
// application/json (or no Content-Type), at most MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) (map[string]any, []byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/scim+json" && mt != "application/json") {
			return nil, nil, scim.Errorf(http.StatusUnsupportedMediaType, "", "request bodies must be application/scim+json or application/json, not %q", ct)
		}
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, nil, scim.Errorf(http.StatusRequestEntityTooLarge, "", "the request body exceeds %d bytes", MaxBodyBytes)
		}
		return nil, nil, scim.BadRequest(scim.ErrInvalidSyntax, "could not read the request body: %v", err)
	}
	if !utf8.Valid(raw) {
		// encoding/json would silently turn the bad bytes into U+FFFD and
		// store a name the client never sent.
		return nil, nil, scim.BadRequest(scim.ErrInvalidSyntax, "the request body is not valid UTF-8 (RFC 8259 §8.1)")
	}
	m, err := decodeJSONObject(raw)
	if err != nil {
		return nil, nil, err
	}
	return m, raw, nil
}

// decodeJSONObject parses one JSON object, numbers kept exact.
func decodeJSONObject(raw []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, scim.BadRequest(scim.ErrInvalidSyntax, "the request body is empty; a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, scim.BadRequest(scim.ErrInvalidSyntax, "the request body is not valid JSON: %v", jsonErrDetail(err))
	}
	if dec.More() {
		return nil, scim.BadRequest(scim.ErrInvalidSyntax, "the request body has data after its JSON object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, scim.BadRequest(scim.ErrInvalidSyntax, "the request body must be a JSON object")
	}
	return obj, nil
}

func jsonErrDetail(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error() + " at byte " + strconv.FormatInt(se.Offset, 10)
	}
	return err.Error()
}

func (s *Server) renderer(r *http.Request, rt *scim.ResourceType, attributes, excluded string) *renderer {
	return &renderer{
		base:       s.baseURL(r),
		rt:         rt,
		attributes: scim.ParseAttrList(rt, attributes),
		excluded:   scim.ParseAttrList(rt, excluded),
	}
}

// wantsRelations reports whether a response needs a user's groups or a
// group's members, so that excludedAttributes=members never reads the
// membership rows.
func (rd *renderer) wantsRelations() bool {
	name := "groups"
	if rd.rt.ID == "Group" {
		name = "members"
	}
	if len(rd.attributes) > 0 {
		for _, p := range rd.attributes {
			if p.URN == "" && strings.EqualFold(p.Attr, name) {
				return true
			}
		}
		return false
	}
	for _, p := range rd.excluded {
		if p.URN == "" && strings.EqualFold(p.Attr, name) && p.Sub == "" {
			return false
		}
	}
	return true
}

// writeResource answers with one resource, its ETag and, for 201, Location.
func (s *Server) writeResource(w http.ResponseWriter, r *http.Request, rd *renderer, res *directory.Resource, status int) {
	b := getBuf()
	defer putBuf(b)
	if err := rd.write(b, res); err != nil {
		writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("ETag", res.Version())
	if status == http.StatusCreated {
		h.Set("Location", rd.location(res))
	}
	writeBody(w, status, b.Bytes())
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType, id string) {
	if !s.requireScope(w, r, tokens.ScimRead) {
		return
	}
	q := r.URL.Query()
	rd := s.renderer(r, rt, q.Get("attributes"), q.Get("excludedAttributes"))
	res, err := s.dir.Get(r.Context(), rt.ID, id, directory.GetOptions{WithRelations: rd.wantsRelations()})
	if err != nil {
		writeError(w, r, err)
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagListHas(inm, res.Version()) {
		w.Header().Set("ETag", res.Version())
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.writeResource(w, r, rd, res, http.StatusOK)
}

// etagListHas reports whether an If-None-Match / If-Match list names v
// (weak comparison, RFC 9110 §8.8.3.2).
func etagListHas(list, v string) bool {
	if strings.TrimSpace(list) == "*" {
		return true
	}
	want := strings.TrimPrefix(v, "W/")
	for _, t := range strings.Split(list, ",") {
		if strings.TrimPrefix(strings.TrimSpace(t), "W/") == want {
			return true
		}
	}
	return false
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType) {
	if !s.requireScope(w, r, tokens.ScimWrite) {
		return
	}
	body, raw, err := readBody(w, r)
	if err != nil {
		s.failWrite(w, r, rt, "create", "", raw, err)
		return
	}
	follow, fw := s.followUp(r, rt, "create", "", raw)
	res, ch, err := s.dir.Create(r.Context(), rt.ID, body, follow)
	if err != nil {
		s.failWrite(w, r, rt, "create", "", raw, err)
		return
	}
	if !s.changed(w, r, rt, "create", raw, ch, fw) {
		return
	}
	q := r.URL.Query()
	s.writeResource(w, r, s.renderer(r, rt, q.Get("attributes"), q.Get("excludedAttributes")), res, http.StatusCreated)
}

// failWrite records a failed write and answers with its error.
func (s *Server) failWrite(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType, verb, id string, raw []byte, err error) {
	_ = s.recordWrite(r, rt, verb, id, raw, nil, err)
	writeError(w, r, err)
}

func (s *Server) replace(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType, id string) {
	if !s.requireScope(w, r, tokens.ScimWrite) {
		return
	}
	body, raw, err := readBody(w, r)
	if err != nil {
		s.failWrite(w, r, rt, "replace", id, raw, err)
		return
	}
	follow, fw := s.followUp(r, rt, "replace", id, raw)
	res, ch, err := s.dir.Replace(r.Context(), rt.ID, id, body, r.Header.Get("If-Match"), follow)
	if err != nil {
		s.failWrite(w, r, rt, "replace", id, raw, err)
		return
	}
	if !s.changed(w, r, rt, "replace", raw, ch, fw) {
		return
	}
	q := r.URL.Query()
	rd := s.renderer(r, rt, q.Get("attributes"), q.Get("excludedAttributes"))
	if rd.wantsRelations() && !res.GroupsLoaded && !res.MembersLoaded {
		if full, err := s.dir.Get(r.Context(), rt.ID, id, directory.GetOptions{WithRelations: true}); err == nil {
			res = full
		}
	}
	s.writeResource(w, r, rd, res, http.StatusOK)
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType, id string) {
	if !s.requireScope(w, r, tokens.ScimWrite) {
		return
	}
	_, raw, err := readBody(w, r)
	if err != nil {
		s.failWrite(w, r, rt, "patch", id, raw, err)
		return
	}
	patcher, err := s.patcher(rt, id, raw)
	if err != nil {
		s.failWrite(w, r, rt, "patch", id, raw, err)
		return
	}
	follow, fw := s.followUp(r, rt, "patch", id, raw)
	res, ch, err := s.dir.Patch(r.Context(), rt.ID, id, patcher, r.Header.Get("If-Match"), follow)
	if err != nil {
		s.failWrite(w, r, rt, "patch", id, raw, err)
		return
	}
	if !s.changed(w, r, rt, "patch", raw, ch, fw) {
		return
	}
	q := r.URL.Query()
	// Groups answer 204 (answersNoContent); users, and any request that
	// names attributes, get 200 with the resource.
	if answersNoContent(r, rt, "patch") {
		w.Header().Set("ETag", res.Version())
		w.WriteHeader(http.StatusNoContent)
		return
	}
	rd := s.renderer(r, rt, q.Get("attributes"), q.Get("excludedAttributes"))
	if rd.wantsRelations() && !res.GroupsLoaded && !res.MembersLoaded {
		if full, err := s.dir.Get(r.Context(), rt.ID, id, directory.GetOptions{WithRelations: true}); err == nil {
			res = full
		}
	}
	s.writeResource(w, r, rd, res, http.StatusOK)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType, id string) {
	if !s.requireScope(w, r, tokens.ScimWrite) {
		return
	}
	follow, fw := s.followUp(r, rt, "delete", id, nil)
	ch, err := s.dir.Delete(r.Context(), rt.ID, id, r.Header.Get("If-Match"), follow)
	if err != nil {
		s.failWrite(w, r, rt, "delete", id, nil, err)
		return
	}
	if !s.changed(w, r, rt, "delete", nil, ch, fw) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// changed records a completed write in the audit trail and reports it to
// the RBAC reconciler, unless both went into the write's own commit (fw); it
// answers the request itself and returns false when the record could not be
// written. It also logs and counts attributes that matched no schema, so an
// operator sees at once when an IdP sends a field adfscim does not know.
func (s *Server) changed(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType, verb string, raw []byte, ch *directory.Change, fw *followed) bool {
	if len(ch.Unknown) > 0 {
		client := identityFrom(r.Context()).Name
		s.unknown.add(client, ch.Unknown)
		s.opts.Logger.Warn().Str("client", client).Str("resource", ch.Type).
			Strs("attributes", ch.Unknown).Msg("ignored attributes that match no schema")
	}
	// What is still to write (the audit record, the RBAC queue entry) is
	// written side by side: both are durable before the answer, but one
	// waits for the other's commit no longer than it must.
	var queued error
	var wg sync.WaitGroup
	if s.opts.Access != nil && ch.AccessChanged {
		if fw.queued {
			s.opts.Access.Queued()
		} else {
			wg.Add(1)
			go func() {
				defer wg.Done()
				queued = s.opts.Access.Enqueue(r.Context(), ch)
			}()
		}
	}
	var recorded error
	if fw.record == nil || !fw.record.Written() {
		recorded = s.recordWrite(r, rt, verb, ch.ID, raw, ch, nil)
	}
	wg.Wait()
	if queued != nil {
		// The change is stored; the timer's sweep will apply it.
		s.opts.Logger.Error().Err(queued).Str("resource", ch.Type).Str("id", ch.ID).Msg("access change not queued; the next reconcile applies it")
	}
	if recorded != nil {
		writeError(w, r, recorded)
		return false
	}
	return true
}
