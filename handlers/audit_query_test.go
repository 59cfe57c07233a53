package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/adfscim/adfscim/handlers"
	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/store/enginetest"
)

// queryStory is a trail of five records over two days: a user and a group
// created, a member added, a role assigned the next day, a failed login.
func queryStory(t *testing.T) *audit.Log {
	t.Helper()
	now, _ := time.Parse(time.RFC3339, "2026-04-10T09:00:00Z")
	l := audit.New(enginetest.Open(t), audit.Options{Now: func() time.Time { return now }})
	steps := []audit.Record{
		{Actor: "entra", Action: audit.ActionUserCreate, Target: audit.Target{Type: "User", ID: "u1", Display: "Ann@example.com"}, Outcome: audit.Outcome{Success: true, Status: 201}},
		{Actor: "entra", Action: audit.ActionGroupCreate, Target: audit.Target{Type: "Group", ID: "g1", Display: "ADF Operators"}, Outcome: audit.Outcome{Success: true, Status: 201}},
		{Actor: "entra", Action: audit.ActionGroupPatch, Target: audit.Target{Type: "Group", ID: "g1", Display: "ADF Operators"}, Changes: []audit.Change{{Op: "Add", Path: "members", Value: []any{map[string]any{"value": "u1"}}}}, Outcome: audit.Outcome{Success: true, Status: 204}},
		{Actor: "reconciler", Action: audit.ActionRBACAssign, Target: audit.Target{Type: "RoleAssignment", ID: "ra1"}, Outcome: audit.Outcome{Success: true, Status: 201}},
		{Actor: "okta", Action: audit.ActionAuthFailure, Outcome: audit.Outcome{Success: false, Status: 401, Detail: "unknown token"}},
	}
	for i, r := range steps {
		if i == 3 {
			now = now.Add(24 * time.Hour)
		}
		r.Time = now
		now = now.Add(time.Minute)
		if err := l.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// TestAuditQuery serves the audit query route alone (handlers.New) over a
// trail written by queryStory with times of its choosing, days apart, which
// a trail fed through the whole service could not hold.
func TestAuditQuery(t *testing.T) {
	srv := httptest.NewServer(handlers.New(handlers.Options{AuditQuery: queryStory(t), Auth: tokenAuth{}, Logger: zerolog.Nop()}))
	defer srv.Close()
	do := func(method string, q url.Values) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+"/ops/v1/audit?"+q.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+auditorClient)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	get := func(q url.Values) (int, audit.QueryPage, map[string]any) {
		t.Helper()
		res := do("GET", q)
		defer res.Body.Close()
		var page audit.QueryPage
		var err error
		var errBody map[string]any
		if res.StatusCode == http.StatusOK {
			err = json.NewDecoder(res.Body).Decode(&page)
		} else {
			err = json.NewDecoder(res.Body).Decode(&errBody)
		}
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, page, errBody
	}
	tests := []struct {
		name     string
		q        url.Values
		want     []uint64
		wantNext bool
	}{
		{"all", url.Values{}, []uint64{1, 2, 3, 4, 5}, false},
		{"filters combine", url.Values{"actor": {"entra"}, "action": {"group."}}, []uint64{2, 3}, false},
		{"date range", url.Values{"from": {"2026-04-11"}, "to": {"2026-04-12T00:00:00Z"}}, []uint64{4, 5}, false},
		{"first page", url.Values{"count": {"2"}}, []uint64{1, 2}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, page, _ := get(tc.q)
			if code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			var got []uint64
			for _, e := range page.Records {
				got = append(got, e.Seq)
				if len(e.Hash) != 64 || e.Day == "" || e.Action == "" {
					t.Errorf("entry %d lacks chain fields or content: %+v", e.Seq, e)
				}
			}
			if !slices.Equal(got, tc.want) || (page.Next != "") != tc.wantNext {
				t.Errorf("got %v next=%q, want %v next=%v", got, page.Next, tc.want, tc.wantNext)
			}
		})
	}
	t.Run("following the cursor", func(t *testing.T) {
		_, p1, _ := get(url.Values{"count": {"3"}})
		_, p2, _ := get(url.Values{"count": {"3"}, "cursor": {p1.Next}})
		if len(p2.Records) != 2 || p2.Records[0].Seq != 4 || p2.Next != "" {
			t.Errorf("second page: %+v", p2)
		}
	})
	for _, bad := range []struct {
		name, scimType string
		q              url.Values
	}{
		{"bad date", "invalidValue", url.Values{"from": {"yesterday"}}},
		{"bad count", "invalidValue", url.Values{"count": {"0"}}},
		{"bad cursor", "invalidCursor", url.Values{"cursor": {"abc"}}},
	} {
		t.Run(bad.name, func(t *testing.T) {
			code, _, body := get(bad.q)
			if code != http.StatusBadRequest || body["scimType"] != bad.scimType || body["status"] != "400" {
				t.Errorf("status %d body %v; want 400 %s", code, body, bad.scimType)
			}
		})
	}
	t.Run("not GET", func(t *testing.T) {
		res := do("POST", nil)
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("status %d", res.StatusCode)
		}
	})
}
