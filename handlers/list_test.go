package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"testing"
)

type listPage struct {
	TotalResults int
	ItemsPerPage int
	StartIndex   int
	NextCursor   string
	Resources    []map[string]any
}

func (e *env) list(path string) listPage {
	e.t.Helper()
	r := e.do("GET", path, "")
	if r.status != 200 {
		e.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	var p listPage
	if err := jsonUnmarshal(r.body, &p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// TestListPagingSortingCursors: startIndex/count pages are disjoint and
// cover everything in a stable order; count=0 gives only the total; sortBy
// orders by the attribute's type; RFC 9865 cursors walk the same set.
func TestListPagingSortingCursors(t *testing.T) {
	e := newEnv(t)
	const n = 23
	for i := 0; i < n; i++ {
		e.createUser(fmt.Sprintf(`{"userName":"user%02d@contoso.com","name":{"familyName":"F%02d"},"active":%v,"emails":[{"value":"e%02d@x.com","primary":true}]}`, i, (i*7)%n, i%2 == 0, n-i))
	}
	seen := map[string]bool{}
	for start := 1; start <= n; start += 5 {
		p := e.list(fmt.Sprintf("/scim/v2/Users?startIndex=%d&count=5", start))
		if p.TotalResults != n || p.StartIndex != start {
			t.Errorf("page at %d: total %d startIndex %d", start, p.TotalResults, p.StartIndex)
		}
		for _, r := range p.Resources {
			id := r["id"].(string)
			if seen[id] {
				t.Errorf("id %s on two pages", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != n {
		t.Errorf("pages covered %d of %d users", len(seen), n)
	}
	if p := e.list("/scim/v2/Users?count=0"); p.TotalResults != n || len(p.Resources) != 0 || p.Resources == nil {
		t.Errorf("count=0: %+v", p)
	}
	if p := e.list("/scim/v2/Users?filter=" + url.QueryEscape(`userName eq "nobody"`)); p.TotalResults != 0 || p.Resources == nil {
		t.Errorf("an empty result must still carry Resources: %+v", p)
	}
	// Filtered totals are exact.
	if p := e.list("/scim/v2/Users?count=2&filter=" + url.QueryEscape("active eq true")); p.TotalResults != (n+1)/2 || len(p.Resources) != 2 {
		t.Errorf("filtered page: total %d, %d resources", p.TotalResults, len(p.Resources))
	}
	// sortBy a sub-attribute, both orders, across pages.
	var asc []string
	for start := 1; start <= n; start += 10 {
		p := e.list(fmt.Sprintf("/scim/v2/Users?sortBy=name.familyName&startIndex=%d&count=10", start))
		for _, r := range p.Resources {
			asc = append(asc, r["name"].(map[string]any)["familyName"].(string))
		}
	}
	if !sort.StringsAreSorted(asc) || len(asc) != n {
		t.Errorf("sortBy=name.familyName ascending: %v", asc)
	}
	desc := e.list("/scim/v2/Users?sortBy=emails.value&sortOrder=descending&count=3")
	if got := desc.Resources[0]["emails"].([]any)[0].(map[string]any)["value"]; got != fmt.Sprintf("e%02d@x.com", n) {
		t.Errorf("sortBy=emails descending starts with %v", got)
	}
	wantError(t, e.do("GET", "/scim/v2/Users?sortBy=noSuchAttribute", ""), 400, "invalidValue")
	// Cursors.
	cursorSeen := map[string]bool{}
	next := ""
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("cursor paging does not end")
		}
		p := e.list("/scim/v2/Users?count=4&cursor=" + url.QueryEscape(next))
		if p.TotalResults != n {
			t.Errorf("cursor page total %d", p.TotalResults)
		}
		for _, r := range p.Resources {
			cursorSeen[r["id"].(string)] = true
		}
		if p.NextCursor == "" {
			break
		}
		next = p.NextCursor
	}
	if len(cursorSeen) != n {
		t.Errorf("cursor pages covered %d of %d users", len(cursorSeen), n)
	}
	wantError(t, e.do("GET", "/scim/v2/Users?cursor=bogus", ""), 400, "invalidCursor")
	// POST /.search takes the same parameters in a body.
	r := e.do("POST", "/scim/v2/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName sw \"user1\"","count":3,"attributes":["userName"]}`)
	var sp listPage
	if err := jsonUnmarshal(r.body, &sp); err != nil || sp.TotalResults != 10 || len(sp.Resources) != 3 {
		t.Errorf(".search: %d %s", r.status, r.body)
	}
	for _, res := range sp.Resources {
		if _, ok := res["name"]; ok || res["id"] == nil || res["userName"] == nil {
			t.Errorf(".search attributes=userName returned %v", res)
		}
	}
	wantError(t, e.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName eq`), ""), 400, "invalidFilter")
	wantError(t, e.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName zz "x"`), ""), 400, "invalidFilter")
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// TestFilterOnRelations: filters on a group's members or a user's groups
// see them (the relations are derived rows, not stored attributes).
func TestFilterOnRelations(t *testing.T) {
	e := newEnv(t)
	a := e.createUser(`{"userName":"a@x.com"}`)["id"].(string)
	b := e.createUser(`{"userName":"b@x.com"}`)["id"].(string)
	g := e.do("POST", "/scim/v2/Groups", `{"displayName":"g1","members":[{"value":"`+a+`"}]}`).json(t)["id"].(string)
	e.do("POST", "/scim/v2/Groups", `{"displayName":"g2","members":[{"value":"`+b+`"}]}`)
	p := e.list("/scim/v2/Groups?excludedAttributes=members&filter=" + url.QueryEscape(`members[value eq "`+a+`"]`))
	if p.TotalResults != 1 || p.Resources[0]["id"] != g {
		t.Errorf("groups with member a: %+v", p)
	}
	p = e.list("/scim/v2/Users?filter=" + url.QueryEscape(`groups.value eq "`+g+`"`))
	if p.TotalResults != 1 || p.Resources[0]["id"] != a {
		t.Errorf("users in g1: %+v", p)
	}
}
