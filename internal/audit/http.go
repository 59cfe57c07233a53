package audit

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/adfscim/adfscim/internal/scim"
)

// Querier reads the trail; *Log implements it.
type Querier interface {
	Query(ctx context.Context, f Filter) (Page, error)
}

// QueryPage is the JSON body of GET /ops/v1/audit.
type QueryPage struct {
	Records []Entry `json:"records"`
	// Next is the cursor for the following page, absent at the end.
	Next string `json:"next,omitempty"`
}

// QueryHandler serves GET /ops/v1/audit: the records matching the query
// parameters from and to (RFC 3339 or 2006-01-02), actor, target, action
// (exact, or a family ending in "."), cursor and count, oldest first, as a
// QueryPage. Bad parameters are answered 400 with a SCIM error body. It does
// no authentication: mount it behind the ops.read scope check.
func QueryHandler(q Querier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeHTTPError(w, scim.Errorf(http.StatusMethodNotAllowed, "", "use GET"))
			return
		}
		f, serr := filterFromQuery(r)
		if serr != nil {
			writeHTTPError(w, serr)
			return
		}
		p, err := q.Query(r.Context(), f)
		switch {
		case errors.Is(err, ErrInvalidCursor):
			writeHTTPError(w, scim.BadRequest(scim.ErrInvalidCursor, "the cursor was not issued by this trail"))
			return
		case err != nil:
			writeHTTPError(w, scim.Errorf(http.StatusInternalServerError, "", "the audit trail could not be read"))
			return
		}
		body := QueryPage{Records: make([]Entry, 0, len(p.Records)), Next: p.Next}
		for _, rec := range p.Records {
			body.Records = append(body.Records, Entry{Seq: rec.Seq, Day: rec.Day, PrevHash: rec.PrevHash, Hash: rec.Hash, Record: rec})
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(body)
	})
}

func filterFromQuery(r *http.Request) (Filter, *scim.Error) {
	v := r.URL.Query()
	f := Filter{Actor: v.Get("actor"), Target: v.Get("target"), Action: v.Get("action"), Cursor: v.Get("cursor")}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		s := v.Get(p.name)
		if s == "" {
			continue
		}
		var tf timeFlag
		if err := tf.Set(s); err != nil {
			return Filter{}, scim.BadRequest(scim.ErrInvalidValue, "%s: %v", p.name, err)
		}
		*p.dst = tf.t
	}
	if s := v.Get("count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return Filter{}, scim.BadRequest(scim.ErrInvalidValue, "count must be a number from 1 to %d", MaxLimit)
		}
		f.Limit = n
	}
	return f, nil
}

func writeHTTPError(w http.ResponseWriter, e *scim.Error) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(e.Body())
}
