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
	"unicode/utf8"

	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/scim/patch"
	"github.com/adfscim/adfscim/internal/tokens"
)

// scim dispatches the routes under /scim/v2.
func (s *Server) scim(w http.ResponseWriter, r *http.Request) {
	if !acceptable(r.Header.Get("Accept")) {
		writeError(w, r, scim.Errorf(scim.CodeNotAcceptable, "", "responses are application/scim+json; the Accept header %q does not allow it", r.Header.Get("Accept")))
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
	case strings.EqualFold(first, "Entitlements") && len(s.opts.Entitlements) > 0:
		ri.route = ScimPrefix + "/Entitlements"
		if id != "" {
			ri.route += "/{id}"
		}
		s.entitlements(w, r, id)
		return
	case strings.EqualFold(first, "Bulk"), strings.EqualFold(first, "Me"):
		ri.route = ScimPrefix + "/" + first
		writeError(w, r, scim.Errorf(scim.CodeNotImplemented, "", "/%s is not supported (see /ServiceProviderConfig)", first))
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
	writeError(w, r, scim.Errorf(scim.CodeMethodNotAllowed, "", "method %s is not allowed here; use %s", r.Method, allow))
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

// readBody reads a JSON object request body (readRaw) and decodes it.
func readBody(w http.ResponseWriter, r *http.Request) (map[string]any, []byte, error) {
	raw, err := readRaw(w, r)
	if err != nil {
		return nil, nil, err
	}
	m, err := decodeJSONObject(raw)
	if err != nil {
		return nil, nil, err
	}
	return m, raw, nil
}

// readRaw reads a request body: application/scim+json or application/json
// (or no Content-Type), at most MaxBodyBytes, valid UTF-8.
func readRaw(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/scim+json" && mt != "application/json") {
			return nil, scim.Errorf(scim.CodeUnsupportedMedia, "", "request bodies must be application/scim+json or application/json, not %q", ct)
		}
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, scim.Errorf(scim.CodeTooLarge, "", "the request body exceeds %d bytes", MaxBodyBytes)
		}
		return nil, scim.BadRequest(scim.ErrInvalidSyntax, "could not read the request body: %v", err)
	}
	if !utf8.Valid(raw) {
		// encoding/json would silently turn the bad bytes into U+FFFD and
		// store a name the client never sent.
		return nil, scim.BadRequest(scim.ErrInvalidSyntax, "the request body is not valid UTF-8 (RFC 8259 §8.1)")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, scim.BadRequest(scim.ErrInvalidSyntax, "the request body is empty; a JSON object is required")
	}
	return raw, nil
}

// decodeJSONObject parses one JSON object, numbers kept exact.
func decodeJSONObject(raw []byte) (map[string]any, error) {
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
	res, err := s.dir.Get(r.Context(), directory.Kind(rt.ID), id, directory.GetOptions{WithRelations: rd.wantsRelations()})
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
	req := s.writeRequest(r, rt, "")
	var err error
	if req.Body, req.Raw, err = readBody(w, r); err != nil {
		s.refuse(w, r, directory.ActionCreate, req, err)
		return
	}
	req.Status = http.StatusCreated
	done, err := s.writes.Create(r.Context(), req)
	if err != nil {
		s.refuse(w, r, directory.ActionCreate, req, err)
		return
	}
	s.noteUnknown(r, done.Change)
	q := r.URL.Query()
	s.writeResource(w, r, s.renderer(r, rt, q.Get("attributes"), q.Get("excludedAttributes")), done.Resource, http.StatusCreated)
}

func (s *Server) replace(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType, id string) {
	if !s.requireScope(w, r, tokens.ScimWrite) {
		return
	}
	req := s.writeRequest(r, rt, id)
	var err error
	if req.Body, req.Raw, err = readBody(w, r); err != nil {
		s.refuse(w, r, directory.ActionReplace, req, err)
		return
	}
	req.Status = http.StatusOK
	done, err := s.writes.Replace(r.Context(), req)
	if err != nil {
		s.refuse(w, r, directory.ActionReplace, req, err)
		return
	}
	s.noteUnknown(r, done.Change)
	s.writeWritten(w, r, rt, done.Resource)
}

// writeWritten answers a PUT or PATCH with the resource written, read again
// with its relations when the answer shows them and the write did not load
// them.
func (s *Server) writeWritten(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType, res *directory.Resource) {
	q := r.URL.Query()
	rd := s.renderer(r, rt, q.Get("attributes"), q.Get("excludedAttributes"))
	if rd.wantsRelations() && !res.GroupsLoaded && !res.MembersLoaded {
		if full, err := s.dir.Get(r.Context(), res.Type, res.ID, directory.GetOptions{WithRelations: true}); err == nil {
			res = full
		}
	}
	s.writeResource(w, r, rd, res, http.StatusOK)
}

// patch parses the PatchOp body once; the write unit applies the parsed
// operations afresh on each optimistic retry.
func (s *Server) patch(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType, id string) {
	if !s.requireScope(w, r, tokens.ScimWrite) {
		return
	}
	req := s.writeRequest(r, rt, id)
	var err error
	if req.Raw, err = readRaw(w, r); err != nil {
		s.refuse(w, r, directory.ActionPatch, req, err)
		return
	}
	if req.Operations, err = patch.Parse(req.Raw); err != nil {
		s.refuse(w, r, directory.ActionPatch, req, err)
		return
	}
	// Groups answer 204 (answersNoContent); users, and any request that
	// names attributes, get 200 with the resource.
	noContent := answersNoContent(r, rt)
	req.Status = http.StatusOK
	if noContent {
		req.Status = http.StatusNoContent
	}
	done, err := s.writes.Patch(r.Context(), req)
	if err != nil {
		s.refuse(w, r, directory.ActionPatch, req, err)
		return
	}
	s.noteUnknown(r, done.Change)
	if noContent {
		w.Header().Set("ETag", done.Resource.Version())
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.writeWritten(w, r, rt, done.Resource)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType, id string) {
	if !s.requireScope(w, r, tokens.ScimWrite) {
		return
	}
	req := s.writeRequest(r, rt, id)
	req.Status = http.StatusNoContent
	if _, err := s.writes.Delete(r.Context(), req); err != nil {
		s.refuse(w, r, directory.ActionDelete, req, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
