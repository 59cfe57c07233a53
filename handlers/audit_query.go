package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/scim"
)

// auditQuery serves GET /ops/v1/audit: the records matching the query
// parameters from and to (RFC 3339 or 2006-01-02), actor, target, action
// (exact, or a family ending in "."), cursor and count, oldest first, as a
// QueryPage. Bad parameters are answered 400 with a SCIM error body. The ops
// router has checked the ops.read scope and the method.
func (s *Server) auditQuery(w http.ResponseWriter, r *http.Request) {
	f, serr := filterFromQuery(r)
	if serr != nil {
		writeError(w, r, serr)
		return
	}
	p, err := s.opts.AuditQuery.Query(r.Context(), f)
	switch {
	case errors.Is(err, audit.ErrInvalidCursor):
		writeError(w, r, scim.BadRequest(scim.ErrInvalidCursor, "the cursor was not issued by this trail"))
		return
	case err != nil:
		writeError(w, r, &scim.Error{Code: scim.CodeInternal, Detail: "the audit trail could not be read", Err: err})
		return
	}
	body := audit.QueryPage{Records: make([]audit.Entry, 0, len(p.Records)), Next: p.Next}
	for _, rec := range p.Records {
		body.Records = append(body.Records, audit.Entry{Seq: rec.Seq, Day: rec.Day, PrevHash: rec.PrevHash, Hash: rec.Hash, Record: rec})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(body)
}

func filterFromQuery(r *http.Request) (audit.Filter, *scim.Error) {
	v := r.URL.Query()
	f := audit.Filter{Actor: v.Get("actor"), Target: v.Get("target"), Action: v.Get("action"), Cursor: v.Get("cursor")}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		s := v.Get(p.name)
		if s == "" {
			continue
		}
		t, err := audit.ParseTime(s)
		if err != nil {
			return audit.Filter{}, scim.BadRequest(scim.ErrInvalidValue, "%s: %v", p.name, err)
		}
		*p.dst = t
	}
	if s := v.Get("count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > audit.MaxLimit {
			return audit.Filter{}, scim.BadRequest(scim.ErrInvalidValue, "count must be a number from 1 to %d", audit.MaxLimit)
		}
		f.Limit = n
	}
	return f, nil
}
