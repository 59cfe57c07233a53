package handlers

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/tokens"
)

// listParams are the query parameters of a list or .search request.
type listParams struct {
	filter     string
	startIndex int
	count      int
	countSet   bool
	attributes string
	excluded   string
	sortBy     string
	sortOrder  string
	// cursor is set for RFC 9865 cursor pagination ("" asks for the first page).
	cursor    string
	cursorSet bool
}

func listParamsFromQuery(r *http.Request) (listParams, error) {
	q := r.URL.Query()
	p := listParams{
		filter:     q.Get("filter"),
		attributes: q.Get("attributes"),
		excluded:   q.Get("excludedAttributes"),
		sortBy:     q.Get("sortBy"),
		sortOrder:  q.Get("sortOrder"),
	}
	var err error
	if s := q.Get("startIndex"); s != "" {
		if p.startIndex, err = pageInt("startIndex", s); err != nil {
			return p, err
		}
	}
	if c, ok := q["cursor"]; ok {
		p.cursor, p.cursorSet = c[0], true
	}
	if c := q.Get("count"); c != "" {
		if p.count, err = pageInt("count", c); err != nil {
			return p, err
		}
		p.countSet = true
	}
	return p, nil
}

// pageInt reads the integer value of startIndex or count. Anything but an
// integer is a 400 invalidValue: silently reading "ten" or "2.5" as 0 would
// answer a page the client did not ask for. Integers clamp to 32 bits, so
// that startIndex+count cannot overflow (list clamps them again to what RFC
// 7644 §3.4.2.4 allows).
func pageInt(name, s string) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err == nil || errors.Is(err, strconv.ErrRange) {
		return int(n), nil // ParseInt returns the clamped value with ErrRange
	}
	return 0, scim.BadRequest(scim.ErrInvalidValue, "%s must be an integer, not %q", name, s)
}

// search answers POST /{type}/.search: the list parameters in a body.
func (s *Server) search(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType) {
	body, _, err := readBody(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var p listParams
	for k, v := range body {
		switch strings.ToLower(k) {
		case "filter":
			p.filter, _ = v.(string)
		case "startindex":
			if p.startIndex, err = jsonInt("startIndex", v); err != nil {
				writeError(w, r, err)
				return
			}
		case "count":
			if v == nil {
				continue
			}
			if p.count, err = jsonInt("count", v); err != nil {
				writeError(w, r, err)
				return
			}
			p.countSet = true
		case "attributes":
			p.attributes = joinStrings(v)
		case "excludedattributes":
			p.excluded = joinStrings(v)
		case "sortby":
			p.sortBy, _ = v.(string)
		case "sortorder":
			p.sortOrder, _ = v.(string)
		case "cursor":
			p.cursor, _ = v.(string)
			p.cursorSet = true
		}
	}
	s.list(w, r, rt, p)
}

// jsonInt reads startIndex or count from a .search body: a JSON integer
// (or one written as a string); null means absent.
func jsonInt(name string, v any) (int, error) {
	switch t := v.(type) {
	case nil:
		return 0, nil
	case json.Number:
		return pageInt(name, t.String())
	case string:
		return pageInt(name, t)
	}
	return 0, scim.BadRequest(scim.ErrInvalidValue, "%s must be an integer", name)
}

func joinStrings(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case []any:
		parts := make([]string, 0, len(t))
		for _, x := range t {
			if s, ok := x.(string); ok {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ",")
	}
	return ""
}

// list answers a list or search request with a ListResponse.
func (s *Server) list(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType, p listParams) {
	if !s.requireScope(w, r, tokens.ScimRead) {
		return
	}
	if p.startIndex < 1 {
		p.startIndex = 1
	}
	if !p.countSet || p.count > s.opts.MaxPageSize {
		p.count = s.opts.MaxPageSize
	}
	if p.count < 0 {
		p.count = 0
	}
	rd := s.renderer(r, rt, p.attributes, p.excluded)
	opts := directory.ListOptions{StartIndex: p.startIndex, Count: p.count, WithRelations: rd.wantsRelations()}
	if strings.TrimSpace(p.filter) != "" {
		lookup, match, err := compileFilter(rt, p.filter)
		if err != nil {
			writeError(w, r, err)
			return
		}
		opts.Lookup, opts.Match = lookup, match
		relation := "groups"
		if rt.ID == "Group" {
			relation = "members"
		}
		// A filter that may name the derived relation needs it loaded.
		opts.MatchRelations = match != nil && strings.Contains(strings.ToLower(p.filter), strings.ToLower(relation))
	}
	if p.sortBy != "" {
		less, err := sortLess(rt, p.sortBy, p.sortOrder)
		if err != nil {
			writeError(w, r, err)
			return
		}
		opts.Less = less
	}
	if p.cursorSet {
		if p.sortBy != "" {
			writeError(w, r, scim.BadRequest(scim.ErrInvalidValue, "sortBy cannot be combined with cursor pagination; page with startIndex instead"))
			return
		}
		after, err := decodeCursor(p.cursor)
		if err != nil {
			writeError(w, r, err)
			return
		}
		opts.After = after
	}
	res, err := s.dir.List(r.Context(), directory.Kind(rt.ID), opts)
	if err != nil {
		writeError(w, r, err)
		return
	}
	b := getBuf()
	defer putBuf(b)
	b.WriteString(`{"schemas":["` + scim.SchemaListResponse + `"],"totalResults":`)
	b.WriteString(strconv.Itoa(res.Total))
	b.WriteString(`,"itemsPerPage":`)
	b.WriteString(strconv.Itoa(len(res.Resources)))
	if p.cursorSet {
		if res.More && len(res.Resources) > 0 {
			b.WriteString(`,"nextCursor":"`)
			b.WriteString(encodeCursor(res.Resources[len(res.Resources)-1].ID))
			b.WriteByte('"')
		}
	} else {
		b.WriteString(`,"startIndex":`)
		b.WriteString(strconv.Itoa(p.startIndex))
	}
	b.WriteString(`,"Resources":[`)
	for i, item := range res.Resources {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := rd.write(b, item); err != nil {
			writeError(w, r, err)
			return
		}
	}
	b.WriteString(`]}`)
	writeBody(w, http.StatusOK, b.Bytes())
}

// Cursors (RFC 9865) are the id of the last resource of a page, opaque to
// clients. Positions never expire: a cursor stays valid while resources are
// created and deleted around it.
const cursorPrefix = "c1."

func encodeCursor(id string) string {
	return cursorPrefix + base64.RawURLEncoding.EncodeToString([]byte(id))
}

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(c, cursorPrefix))
	if err != nil || !strings.HasPrefix(c, cursorPrefix) || !directory.ValidID(string(raw)) {
		return "", scim.BadRequest(scim.ErrInvalidCursor, "the cursor %q was not issued by this service", c)
	}
	return string(raw), nil
}
