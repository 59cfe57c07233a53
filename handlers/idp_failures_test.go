package handlers_test

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Failures other SCIM servers are known for (DESIGN.md §7), each a test
// that would catch it here.

// send is a request safe to make from any goroutine: it reports errors
// instead of failing the test.
func (e *env) send(method, path, body string) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+e.tokens[scimClient])
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// createUsers creates n users named prefix-<i> through the API with a few
// concurrent connections, and returns their ids in order.
func (e *env) createUsers(t *testing.T, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	errs := make(chan error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				status, body, err := e.send("POST", "/scim/v2/Users", `{"userName":"`+prefix+`-`+strconv.Itoa(i)+`@contoso.com"}`)
				if err == nil && status != http.StatusCreated {
					err = fmt.Errorf("create user %d: %d %s", i, status, body)
				}
				if err != nil {
					errs <- err
					continue
				}
				ids[i] = string(idOf(body))
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return ids
}

// idOf extracts "id" from a JSON resource without a full decode.
func idOf(body []byte) string {
	s := string(body)
	i := strings.Index(s, `"id":"`)
	if i < 0 {
		return ""
	}
	s = s[i+len(`"id":"`):]
	return s[:strings.IndexByte(s, '"')]
}

func TestMemberRemovalNeverWipesTheGroup(t *testing.T) {
	rows := []struct {
		name string
		op   string // {x} is the member removed
		// gone says whether u2 leaves the group; no other member ever does.
		gone bool
	}{
		{"Entra default", `{"op":"Remove","path":"members","value":[{"value":"{u2}"}]}`, true},
		{"Entra default, $ref null", `{"op":"Remove","path":"members","value":[{"$ref":null,"value":"{u2}"}]}`, true},
		{"value filter", `{"op":"remove","path":"members[value eq \"{u2}\"]"}`, true},
		{"value filter, upper-case attribute", `{"op":"remove","path":"MEMBERS[VALUE eq \"{u2}\"]"}`, true},
		{"single object value", `{"op":"Remove","path":"members","value":{"value":"{u2}"}}`, true},
		{"an id that is no member", `{"op":"Remove","path":"members","value":[{"value":"{stranger}"}]}`, false},
		{"an id that names no user", `{"op":"Remove","path":"members","value":[{"value":"2819c223-7f76-453a-919d-413861904646"}]}`, false},
		{"a filter matching nobody", `{"op":"remove","path":"members[value eq \"nobody\"]"}`, false},
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			s := newSeq(newEnv(t))
			s.run(t, []call{
				entraUser("u1", ""), entraUser("u2", ""), entraUser("u3", ""), entraUser("stranger", ""),
				{name: "group", method: "POST", path: "/scim/v2/Groups", status: 201, save: "g",
					body: `{"displayName":"g","members":` + memberList("u1", "u2", "u3") + `}`},
				{name: "remove", method: "PATCH", path: "/scim/v2/Groups/{g}", body: ops(tc.op)},
			})
			if tc.gone {
				s.wantMembers(t, "g", "u1", "u3")
			} else {
				s.wantMembers(t, "g", "u1", "u2", "u3")
			}
		})
	}
}

func TestStartIndexIsHonoured(t *testing.T) {
	e := newEnv(t)
	const n = 23
	all := e.createUsers(t, "page", n)
	for _, tc := range []struct {
		name   string
		query  string
		total  int
		counts []int
	}{
		{"no filter, pages of 5", "", n, []int{5, 5, 5, 5, 3}},
		{"no filter, pages of 7", "", n, []int{7, 7, 7, 2}},
		{"filter, pages of 4", filterQuery(`userName sw "page-1"`), 11, []int{4, 4, 3}},
		{"one page larger than the set", "", n, []int{n}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			var seen []string
			start := 1
			page := func(start, count int) []string {
				q := tc.query
				if q != "" {
					q += "&"
				}
				r := e.do("GET", "/scim/v2/Users?"+q+"startIndex="+strconv.Itoa(start)+"&count="+strconv.Itoa(count), "")
				res := wantList(t, r, tc.total)
				m := r.json(t)
				if m["startIndex"] != float64(start) || m["itemsPerPage"] != float64(len(res)) {
					t.Errorf("startIndex %v itemsPerPage %v, want %d and %d", m["startIndex"], m["itemsPerPage"], start, len(res))
				}
				ids := make([]string, len(res))
				for i, x := range res {
					ids[i], _ = x["id"].(string)
				}
				return ids
			}
			size := tc.counts[0]
			for i, want := range tc.counts {
				ids := page(start, size)
				if len(ids) != want {
					t.Fatalf("page %d (startIndex %d): %d resources, want %d", i+1, start, len(ids), want)
				}
				// The same page asked again is the same page.
				if again := page(start, size); strings.Join(again, ",") != strings.Join(ids, ",") {
					t.Errorf("page at %d is not stable: %v then %v", start, ids, again)
				}
				seen = append(seen, ids...)
				start += len(ids)
			}
			if past := page(start, size); len(past) != 0 {
				t.Errorf("past the end: %v", past)
			}
			uniq := map[string]bool{}
			for _, id := range seen {
				if uniq[id] {
					t.Errorf("%s on two pages", id)
				}
				uniq[id] = true
			}
			if len(uniq) != tc.total {
				t.Errorf("the pages cover %d resources, want %d", len(uniq), tc.total)
			}
			if tc.query == "" {
				for _, id := range all {
					if !uniq[id] {
						t.Errorf("user %s on no page", id)
					}
				}
			}
		})
	}
}

// TestPagingEdges: the edges of startIndex and count IdPs and RFC 7644
// §3.4.2.4 define: count=0 is the total alone, startIndex below 1 is 1.
func TestPagingEdges(t *testing.T) {
	e := newEnv(t)
	e.createUsers(t, "edge", 6)
	for _, tc := range []struct {
		query     string
		total     int
		items     int
		wantStart int
	}{
		{"count=0", 6, 0, 1},
		{"startIndex=0&count=2", 6, 2, 1},
		{"startIndex=-5&count=2", 6, 2, 1},
		{"startIndex=6&count=10", 6, 1, 6},
		{"startIndex=7&count=10", 6, 0, 7},
		{filterQuery(`userName sw "edge-"`, "count=0"), 6, 0, 1},
		{filterQuery(`userName eq "edge-3@contoso.com"`, "startIndex=1", "count=100"), 1, 1, 1},
		{filterQuery(`userName eq "edge-3@contoso.com"`, "startIndex=2", "count=100"), 1, 0, 2},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r := e.with(t).do("GET", "/scim/v2/Users?"+tc.query, "")
			res := wantList(t, r, tc.total)
			if len(res) != tc.items {
				t.Errorf("%d resources, want %d", len(res), tc.items)
			}
			if m := r.json(t); m["startIndex"] != float64(tc.wantStart) {
				t.Errorf("startIndex = %v, want %d", m["startIndex"], tc.wantStart)
			}
		})
	}
}

// TestGarbledFiltersAreInvalidFilter: a filter the server cannot apply is a
// 400 invalidFilter, never a 500 and never a silent 200. (The parser's
// deliberate leniencies, a bare word as a string value and "not" without
// parentheses, are the filter package's to test.)
func TestGarbledFiltersAreInvalidFilter(t *testing.T) {
	e := newEnv(t)
	e.createUser(alice)
	for _, f := range []string{
		`userName eq`,
		`userName eq "unterminated`,
		`userName xx "a"`,
		`(userName eq "a"`,
		`userName eq "a")`,
		`userName eq "a" and`,
		`userName eq "a" or or userName eq "b"`,
		`emails[type eq "work"`,
		`emails[type eq "work"]]`,
		`userName pr "a"`,
		`eq "a"`,
		`userName eq "a" userName eq "b"`,
		`meta.lastModified gt "yesterday"`,
		`active eq "maybe"`,
		`userName eq "a" and (`,
		`emails[value co "x"][type eq "y"]`,
	} {
		t.Run(f, func(t *testing.T) {
			e := e.with(t)
			wantError(t, e.do("GET", "/scim/v2/Users?"+filterQuery(f), ""), 400, "invalidFilter")
			wantError(t, e.do("POST", "/scim/v2/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":`+mustMarshal(t, f)+`}`), 400, "invalidFilter")
		})
	}
}

func TestLargeGroupPatchedOneMemberAtATime(t *testing.T) {
	e := newEnv(t)
	const n = 5000
	ids := e.createUsers(t, "big", n+3)
	base, extra := ids[:n], ids[n:]
	var b strings.Builder
	b.WriteString(`{"displayName":"big","members":[`)
	for i, id := range base {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"value":"` + id + `"}`)
	}
	b.WriteString(`]}`)
	r := e.do("POST", "/scim/v2/Groups", b.String())
	if r.status != 201 {
		t.Fatalf("create group: %d %.300s", r.status, r.body)
	}
	gid := r.json(t)["id"].(string)

	want := map[string]bool{}
	for _, id := range base {
		want[id] = true
	}
	// Entra's and Okta's single-member changes, one PATCH each.
	steps := []struct {
		op     string
		id     string
		member bool
	}{
		{`{"op":"Add","path":"members","value":[{"value":"%s"}]}`, extra[0], true},
		{`{"op":"Remove","path":"members","value":[{"value":"%s"}]}`, base[0], false},
		{`{"op":"add","path":"members","value":[{"value":"%s"}]}`, extra[1], true},
		{`{"op":"remove","path":"members[value eq \"%s\"]"}`, base[n/2], false},
		{`{"op":"remove","path":"members[value eq \"%s\"]"}`, extra[0], false},
		{`{"op":"Add","path":"members","value":[{"value":"%s"}]}`, extra[2], true},
		{`{"op":"Remove","path":"members","value":[{"value":"%s"}]}`, base[n-1], false},
	}
	for i, st := range steps {
		r := e.do("PATCH", "/scim/v2/Groups/"+gid, ops(fmt.Sprintf(st.op, st.id)))
		if r.status/100 != 2 {
			t.Fatalf("step %d: %d %s", i+1, r.status, r.body)
		}
		if st.member {
			want[st.id] = true
		} else {
			delete(want, st.id)
		}
	}
	g := e.do("GET", "/scim/v2/Groups/"+gid, "").json(t)
	got := memberIDs(t, g)
	wantIDs := make([]string, 0, len(want))
	for id := range want {
		wantIDs = append(wantIDs, id)
	}
	sort.Strings(wantIDs)
	if len(got) != len(wantIDs) || strings.Join(got, ",") != strings.Join(wantIDs, ",") {
		t.Fatalf("the group has %d members, want %d (5,000 - 3 removed + 2 added)", len(got), len(wantIDs))
	}
	// A member's own view agrees.
	for _, id := range []string{base[1], extra[1], base[0]} {
		u := e.do("GET", "/scim/v2/Users/"+id, "").json(t)
		gs, _ := u["groups"].([]any)
		if in := len(gs) == 1; in != want[id] {
			t.Errorf("user %s groups = %v, member %v", id, gs, want[id])
		}
	}
}

func TestStringBooleansAreAccepted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   string
		want   bool
	}{
		{"POST False", "POST", "/scim/v2/Users", `{"userName":"x","active":"False"}`, false},
		{"POST TRUE", "POST", "/scim/v2/Users", `{"userName":"x","active":"TRUE"}`, true},
		{"PATCH path False", "PATCH", "/scim/v2/Users/{u}", ops(`{"op":"Replace","path":"active","value":"False"}`), false},
		{"PATCH path false", "PATCH", "/scim/v2/Users/{u}", ops(`{"op":"replace","path":"active","value":"false"}`), false},
		{"PATCH path-less False", "PATCH", "/scim/v2/Users/{u}", ops(`{"op":"Replace","value":{"active":"False"}}`), false},
		{"PATCH path True after False", "PATCH", "/scim/v2/Users/{u}", ops(`{"op":"Replace","path":"active","value":"False"}`, `{"op":"Replace","path":"active","value":"True"}`), true},
		{"PUT false", "PUT", "/scim/v2/Users/{u}", `{"userName":"u@contoso.com","active":"false"}`, false},
		{"emails primary True", "PATCH", "/scim/v2/Users/{u}", ops(`{"op":"Add","path":"emails","value":[{"value":"p@contoso.com","type":"work","primary":"True"}]}`, `{"op":"Replace","path":"active","value":"False"}`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSeq(newEnv(t))
			s.run(t, []call{
				entraUser("u", ""),
				{name: tc.name, method: tc.method, path: tc.path, body: tc.body, save: "x"},
			})
			u := s.user(t, "x")
			wantAt(t, u, tc.want, "active")
			if tc.name == "emails primary True" {
				es, _ := u["emails"].([]any)
				if len(es) != 1 || at(es[0].(map[string]any), "primary") != true {
					t.Errorf("emails = %v, want primary true as a boolean", u["emails"])
				}
			}
			// Filtering by the boolean finds the user exactly when it matches.
			r := s.e.with(t).do("GET", "/scim/v2/Users?"+filterQuery(`active eq `+strconv.FormatBool(tc.want)), "")
			want := 1
			if tc.method == "POST" && tc.want {
				want = 2 // u, created active, matches too
			}
			wantList(t, r, want)
		})
	}
}

func TestPathlessPatchIsApplied(t *testing.T) {
	for _, tc := range []struct {
		name  string
		typ   string
		body  string
		check func(t *testing.T, m map[string]any)
	}{
		{"user replace", "Users", ops(`{"op":"replace","value":{"displayName":"New Name","title":"Lead","active":false}}`), func(t *testing.T, m map[string]any) {
			wantAt(t, m, "New Name", "displayName")
			wantAt(t, m, "Lead", "title")
			wantAt(t, m, false, "active")
			wantAt(t, m, "Given", "name", "givenName")
		}},
		{"user add", "Users", ops(`{"op":"Add","value":{"nickName":"Nick","emails":[{"type":"home","value":"h@example.com"}]}}`), func(t *testing.T, m map[string]any) {
			wantAt(t, m, "Nick", "nickName")
			if email(m, "home") != "h@example.com" {
				t.Errorf("emails = %v", m["emails"])
			}
		}},
		{"user replace of a complex attribute", "Users", ops(`{"op":"replace","value":{"name":{"givenName":"G2"}}}`), func(t *testing.T, m map[string]any) {
			wantAt(t, m, "G2", "name", "givenName")
		}},
		{"user replace with an enterprise object", "Users", ops(`{"op":"replace","value":{"` + enterpriseURN + `":{"department":"D","employeeNumber":"7"}}}`), func(t *testing.T, m map[string]any) {
			wantAt(t, m, "D", enterpriseURN, "department")
			wantAt(t, m, "7", enterpriseURN, "employeeNumber")
		}},
		{"group replace", "Groups", ops(`{"op":"replace","value":{"displayName":"Renamed","externalId":"ext-2"}}`), func(t *testing.T, m map[string]any) {
			wantAt(t, m, "Renamed", "displayName")
			wantAt(t, m, "ext-2", "externalId")
		}},
		{"group add members", "Groups", ops(`{"op":"add","value":{"members":[{"value":"{u}"}]}}`), func(t *testing.T, m map[string]any) {
			if ms, _ := m["members"].([]any); len(ms) != 1 {
				t.Errorf("members = %v, want u", m["members"])
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSeq(newEnv(t))
			name := "u"
			if tc.typ == "Groups" {
				name = "g"
			}
			s.run(t, []call{
				entraUser("u", ""), entraGroup("g", ""),
				{name: "PATCH", method: "PATCH", path: "/scim/v2/" + tc.typ + "/{" + name + "}", body: tc.body},
			})
			tc.check(t, s.get(t, tc.typ, name))
		})
	}
}

// TestMembershipPatchAtomicity pins the decision for a membership PATCH
// that names a user id this service does not know: the whole PATCH is
// refused with 400 invalidValue and nothing of it is applied (RFC 7644
// §3.5.2 atomicity), however many storage batches the PATCH needs. An IdP
// then sees which id is wrong in the detail instead of a group that is
// silently half-provisioned.
func TestMembershipPatchAtomicity(t *testing.T) {
	e := newEnv(t)
	const big = 1000
	ids := e.createUsers(t, "atom", big+2)
	list := func(ids []string) string {
		var b strings.Builder
		b.WriteByte('[')
		for i, id := range ids {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"value":"` + id + `"}`)
		}
		b.WriteByte(']')
		return b.String()
	}
	const unknown = "2819c223-7f76-453a-919d-413861904646"
	for _, tc := range []struct {
		name string
		// seed are the members before the PATCH.
		seed []string
		ops  []string
		// want is the status; on 400 the members stay seed.
		status int
		after  []string
	}{
		{"1,000 members added in one PATCH", ids[:1], []string{`{"op":"Add","path":"members","value":` + list(ids[:big]) + `}`}, 204, ids[:big]},
		{"an unknown id among two", ids[:1], []string{`{"op":"Add","path":"members","value":` + list([]string{ids[1], unknown}) + `}`}, 400, ids[:1]},
		{"an unknown id among 1,000", ids[:1], []string{`{"op":"add","path":"members","value":` + list(append(append([]string{}, ids[1:big]...), unknown)) + `}`}, 400, ids[:1]},
		{"an unknown id after a rename and a removal", ids[:2], []string{
			`{"op":"Replace","path":"displayName","value":"renamed"}`,
			`{"op":"Remove","path":"members","value":[{"value":"` + ids[0] + `"}]}`,
			`{"op":"Add","path":"members","value":[{"value":"` + unknown + `"}]}`}, 400, ids[:2]},
		{"an id that is not an id at all", ids[:1], []string{`{"op":"Add","path":"members","value":[{"value":"../x"}]}`}, 400, ids[:1]},
		{"1,000 members removed by remove without a value", ids[:big], []string{`{"op":"remove","path":"members"}`}, 204, nil},
		{"replace with 1,000 others", ids[:2], []string{`{"op":"replace","path":"members","value":` + list(ids[2:big+2]) + `}`}, 204, ids[2 : big+2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			r := e.do("POST", "/scim/v2/Groups", `{"displayName":"`+tc.name+`","members":`+list(tc.seed)+`}`)
			if r.status != http.StatusCreated {
				t.Fatalf("create: %d %.300s", r.status, r.body)
			}
			gid := r.json(t)["id"].(string)
			r = e.do("PATCH", "/scim/v2/Groups/"+gid, ops(tc.ops...))
			if tc.status == 400 {
				m := wantError(t, r, 400, "invalidValue")
				if d, _ := m["detail"].(string); !strings.Contains(d, unknown) && !strings.Contains(d, "../x") {
					t.Errorf("detail %q does not name the unknown id", d)
				}
			} else if r.status != tc.status {
				t.Fatalf("PATCH: %d %.300s, want %d", r.status, r.body, tc.status)
			}
			g := e.do("GET", "/scim/v2/Groups/"+gid, "").json(t)
			want := append([]string(nil), tc.after...)
			sort.Strings(want)
			if got := memberIDs(t, g); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("members: %d, want %d", len(got), len(want))
			}
			if tc.status == 400 && g["displayName"] != tc.name {
				t.Errorf("displayName = %v after a refused PATCH", g["displayName"])
			}
		})
	}
}
