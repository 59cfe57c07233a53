package audit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestQueryHandler(t *testing.T) {
	s := openBolt(t)
	srv := httptest.NewServer(QueryHandler(story(t, s)))
	defer srv.Close()
	get := func(q url.Values) (int, QueryPage, map[string]any) {
		t.Helper()
		res, err := http.Get(srv.URL + "/ops/v1/audit?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var page QueryPage
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
			if !equalSeqs(got, tc.want) || (page.Next != "") != tc.wantNext {
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
		res, err := http.Post(srv.URL+"/ops/v1/audit", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("status %d", res.StatusCode)
		}
	})
}
