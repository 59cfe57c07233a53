package handlers_test

import (
	"net/http"
	"strings"
	"testing"
)

const patchHead = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[`

// TestWrongTypesAreInvalidValue: a value of the wrong type is a 400
// invalidValue whose detail names the attribute, in POST, PUT and PATCH
// alike, and nothing is stored; what identity providers really send (string
// booleans "True"/"False") stays accepted.
func TestWrongTypesAreInvalidValue(t *testing.T) {
	e := newEnv(t)
	id := e.createUser(alice)["id"].(string)
	const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	for _, tc := range []struct {
		name, method, path, body, attr string
	}{
		{"POST number for userName", "POST", "/scim/v2/Users", `{"userName":42}`, "userName"},
		{"POST boolean for displayName", "POST", "/scim/v2/Users", `{"userName":"bob","displayName":true}`, "displayName"},
		{"POST word for active", "POST", "/scim/v2/Users", `{"userName":"bob","active":"maybe"}`, "active"},
		{"POST number for active", "POST", "/scim/v2/Users", `{"userName":"bob","active":1}`, "active"},
		{"POST object for emails", "POST", "/scim/v2/Users", `{"userName":"bob","emails":{"value":"bob@contoso.com"}}`, "emails"},
		{"POST string for emails", "POST", "/scim/v2/Users", `{"userName":"bob","emails":"bob@contoso.com"}`, "emails"},
		{"POST number for an extension string", "POST", "/scim/v2/Users", `{"userName":"bob","` + ent + `":{"employeeNumber":123}}`, "employeeNumber"},
		{"POST number for a group displayName", "POST", "/scim/v2/Groups", `{"displayName":7}`, "displayName"},
		{"PUT number for userName", "PUT", "/scim/v2/Users/" + id, `{"userName":42}`, "userName"},
		{"PUT object for emails", "PUT", "/scim/v2/Users/" + id, `{"userName":"Alice@Contoso.com","emails":{"value":"a@contoso.com"}}`, "emails"},
		{"PATCH number for userName", "PATCH", "/scim/v2/Users/" + id, patchHead + `{"op":"replace","path":"userName","value":42}]}`, "userName"},
		{"PATCH word for active", "PATCH", "/scim/v2/Users/" + id, patchHead + `{"op":"Replace","path":"active","value":"maybe"}]}`, "active"},
		{"PATCH path-less number for userName", "PATCH", "/scim/v2/Users/" + id, patchHead + `{"op":"replace","value":{"userName":42}}]}`, "userName"},
		{"PATCH path-less object for emails", "PATCH", "/scim/v2/Users/" + id, patchHead + `{"op":"replace","value":{"emails":{"value":"a@contoso.com"}}}]}`, "emails"},
		{"PATCH number for a sub-attribute", "PATCH", "/scim/v2/Users/" + id, patchHead + `{"op":"replace","path":"name.givenName","value":3}]}`, "name.givenName"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := wantError(t, e.with(t).do(tc.method, tc.path, tc.body), http.StatusBadRequest, "invalidValue")
			if d, _ := m["detail"].(string); !strings.Contains(d, tc.attr) {
				t.Errorf("detail %q does not name %q", d, tc.attr)
			}
		})
	}
	if r := e.do("GET", "/scim/v2/Users", ""); r.json(t)["totalResults"] != float64(1) {
		t.Errorf("a refused POST stored a user: %s", r.body)
	}
	if r := e.do("GET", "/scim/v2/Groups", ""); r.json(t)["totalResults"] != float64(0) {
		t.Errorf("a refused POST stored a group: %s", r.body)
	}
	got := e.do("GET", "/scim/v2/Users/"+id, "").json(t)
	if got["userName"] != "Alice@Contoso.com" || got["active"] != true || got["name"].(map[string]any)["givenName"] != "Alice" {
		t.Errorf("a refused write changed the user: %v", got)
	}
	if emails, _ := got["emails"].([]any); len(emails) != 1 {
		t.Errorf("a refused write changed the emails: %v", got["emails"])
	}

	// Entra ID's string booleans.
	bob := e.createUser(`{"userName":"bob@contoso.com","active":"True"}`)
	if bob["active"] != true {
		t.Errorf(`"active":"True" stored as %v`, bob["active"])
	}
	r := e.do("PATCH", "/scim/v2/Users/"+bob["id"].(string), patchHead+`{"op":"Replace","path":"active","value":"False"}]}`)
	if r.status != http.StatusOK || r.json(t)["active"] != false {
		t.Errorf(`PATCH active "False": %d %s`, r.status, r.body)
	}
}

// TestInvalidUTF8IsInvalidSyntax: a body that is not UTF-8 is refused,
// rather than stored with its bytes replaced by U+FFFD.
func TestInvalidUTF8IsInvalidSyntax(t *testing.T) {
	e := newEnv(t)
	id := e.createUser(alice)["id"].(string)
	for _, tc := range []struct{ name, method, path, body string }{
		{"POST user", "POST", "/scim/v2/Users", "{\"userName\":\"j\xfcrgen@contoso.com\"}"},
		{"POST group", "POST", "/scim/v2/Groups", "{\"displayName\":\"Gr\xfcn\"}"},
		{"PUT", "PUT", "/scim/v2/Users/" + id, "{\"userName\":\"Alice@Contoso.com\",\"displayName\":\"\xc3\x28\"}"},
		{"PATCH", "PATCH", "/scim/v2/Users/" + id, patchHead + "{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"\xed\xa0\x80\"}]}"},
		{".search", "POST", "/scim/v2/Users/.search", "{\"filter\":\"userName eq \\\"\xff\\\"\"}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.with(t).do(tc.method, tc.path, tc.body), http.StatusBadRequest, "invalidSyntax")
		})
	}
	if r := e.do("GET", "/scim/v2/Users", ""); r.json(t)["totalResults"] != float64(1) {
		t.Errorf("a refused POST stored a user: %s", r.body)
	}
	if got := e.do("GET", "/scim/v2/Users/"+id, "").json(t); got["displayName"] != nil {
		t.Errorf("a refused write changed the user: %v", got)
	}
}

// TestPagingParametersMustBeIntegers: count and startIndex that are not
// integers are a 400 invalidValue, while RFC 7644's clamping of negative or
// zero values stays.
func TestPagingParametersMustBeIntegers(t *testing.T) {
	e := newEnv(t)
	e.createUsers(t, "int", 3)
	for _, q := range []string{"count=ten", "count=2.5", "startIndex=first", "startIndex=1.0", "count=0x10", "startIndex=2&count=1e2"} {
		t.Run(q, func(t *testing.T) {
			m := wantError(t, e.with(t).do("GET", "/scim/v2/Users?"+q, ""), http.StatusBadRequest, "invalidValue")
			name, _, _ := strings.Cut(strings.Split(q, "&")[len(strings.Split(q, "&"))-1], "=")
			if d, _ := m["detail"].(string); !strings.Contains(d, name) {
				t.Errorf("detail %q does not name %s", d, name)
			}
		})
	}
	for _, body := range []string{`{"count":"ten"}`, `{"count":2.5}`, `{"startIndex":true}`, `{"startIndex":[1]}`} {
		t.Run(".search "+body, func(t *testing.T) {
			wantError(t, e.with(t).do("POST", "/scim/v2/Users/.search", body), http.StatusBadRequest, "invalidValue")
		})
	}
	for _, tc := range []struct {
		query        string
		items, start int
	}{
		{"count=-1", 0, 1},
		{"startIndex=-3&count=2", 2, 1},
		{"startIndex=0", 3, 1},
		{"startIndex=99999999999999999999&count=99999999999999999999", 0, 2147483647},
		{"count=%202%20", 2, 1},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r := e.with(t).do("GET", "/scim/v2/Users?"+tc.query, "")
			res := wantList(t, r, 3)
			if len(res) != tc.items || r.json(t)["startIndex"] != float64(tc.start) {
				t.Errorf("%d resources from %v, want %d from %d", len(res), r.json(t)["startIndex"], tc.items, tc.start)
			}
		})
	}
	r := e.do("POST", "/scim/v2/Users/.search", `{"startIndex":"2","count":1}`)
	if res := wantList(t, r, 3); len(res) != 1 {
		t.Errorf(".search with startIndex as a string: %s", r.body)
	}
}

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// TestExtensionShortNames follows Microsoft's provisioning tutorial for
// reference attributes: Entra ID writes the manager with a path "manager"
// (no URN) and a one-element array value, and checks it with a filter
// `manager eq "<id>"`. A name without a URN that exactly one extension
// defines is that extension's, in paths, path-less values, bodies, filters,
// sortBy and attributes; core and ambiguous names keep their meaning.
func TestExtensionShortNames(t *testing.T) {
	e := newEnvWith(t, envOptions{extensions: `[{"id":"` + contoso + `","resourceType":"User","attributes":[
	  {"name":"badge"},{"name":"department"},{"name":"title"}]}]`})
	boss := e.createUser(`{"userName":"boss@contoso.com"}`)["id"].(string)
	other := e.createUser(`{"userName":"other@contoso.com"}`)["id"].(string)
	id := e.createUser(`{"userName":"worker@contoso.com","employeeNumber":"7","badge":"B-1","department":"Sales","title":"Clerk"}`)["id"].(string)

	ext := func(t *testing.T, m map[string]any, urn string) map[string]any {
		t.Helper()
		x, _ := m[urn].(map[string]any)
		return x
	}
	got := e.do("GET", "/scim/v2/Users/"+id, "").json(t)
	if ext(t, got, enterprise)["employeeNumber"] != "7" || ext(t, got, contoso)["badge"] != "B-1" {
		t.Errorf("short names in a POST body were not stored in their extension: %v", got)
	}
	if got["title"] != "Clerk" || ext(t, got, contoso)["title"] != nil {
		t.Errorf("title is a core attribute, whatever an extension declares: %v", got)
	}
	if ext(t, got, enterprise)["department"] != nil || ext(t, got, contoso)["department"] != nil {
		t.Errorf("department, declared by two extensions, was stored in one: %v", got)
	}

	// Entra ID's PATCH, exactly as the tutorial shows it.
	r := e.do("PATCH", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"manager","value":[{"$ref":null,"value":"`+boss+`"}]}]}`)
	if r.status != http.StatusOK {
		t.Fatalf("PATCH manager: %d %s", r.status, r.body)
	}
	if m, _ := ext(t, r.json(t), enterprise)["manager"].(map[string]any); m["value"] != boss {
		t.Errorf("PATCH manager answered %s", r.body)
	}
	if m, _ := ext(t, e.do("GET", "/scim/v2/Users/"+id, "").json(t), enterprise)["manager"].(map[string]any); m["value"] != boss {
		t.Errorf("PATCH manager was not stored")
	}
	// Entra ID's check that the manager is set, and the same without id.
	for _, tc := range []struct {
		filter string
		total  int
	}{
		{`id eq "` + id + `" and manager eq "` + boss + `"`, 1},
		{`id eq "` + id + `" and manager eq "` + other + `"`, 0},
		{`manager eq "` + boss + `"`, 1},
		{`manager.value eq "` + boss + `"`, 1},
		{`manager pr`, 1},
		{`employeeNumber eq "7"`, 1},
		{`badge eq "B-1"`, 1},
		{`title eq "Clerk"`, 1},
	} {
		wantList(t, e.do("GET", "/scim/v2/Users?"+filterQuery(tc.filter), ""), tc.total)
	}
	// attributes and sortBy.
	res := wantList(t, e.do("GET", "/scim/v2/Users?"+filterQuery(`manager pr`, "attributes=manager,badge"), ""), 1)
	if len(res) != 1 {
		t.Fatalf("manager pr found %d users", len(res))
	}
	if res[0]["userName"] != nil || ext(t, res[0], enterprise)["manager"] == nil || ext(t, res[0], contoso)["badge"] != "B-1" {
		t.Errorf("attributes=manager,badge returned %v", res[0])
	}
	res = wantList(t, e.do("GET", "/scim/v2/Users?"+filterQuery(`userName ew "@contoso.com"`, "excludedAttributes=manager"), ""), 3)
	for _, u := range res {
		if ext(t, u, enterprise)["manager"] != nil {
			t.Errorf("excludedAttributes=manager returned %v", u)
		}
	}
	e.do("PATCH", "/scim/v2/Users/"+other, patchHead+`{"op":"replace","value":{"employeeNumber":"3"}}]}`)
	res = wantList(t, e.do("GET", "/scim/v2/Users?sortBy=employeeNumber&sortOrder=descending", ""), 3)
	if len(res) != 3 || res[0]["id"] != id || res[1]["id"] != other {
		t.Errorf("sortBy=employeeNumber descending: %v", res)
	}
	if r := e.do("GET", "/scim/v2/Users?sortBy=manager", ""); r.status != http.StatusOK {
		t.Errorf("sortBy=manager: %d %s", r.status, r.body)
	}
	// Removing it, as Entra ID does when the manager is cleared.
	r = e.do("PATCH", "/scim/v2/Users/"+id, patchHead+`{"op":"Remove","path":"manager"}]}`)
	if r.status != http.StatusOK || ext(t, r.json(t), enterprise)["manager"] != nil {
		t.Errorf("PATCH remove manager: %d %s", r.status, r.body)
	}
	wantList(t, e.do("GET", "/scim/v2/Users?"+filterQuery(`manager eq "`+boss+`"`), ""), 0)

	// Only the ambiguous name counts as unknown.
	ua := e.do("GET", "/ops/v1/unknown-attributes", "", "Authorization", e.bearer(opsClient))
	if body := string(ua.body); strings.Contains(body, "manager") || strings.Contains(body, "badge") || !strings.Contains(body, "department") {
		t.Errorf("unknown attributes: %s", body)
	}
}

// TestUniquenessIsUnicodeNormalised: userName and a group's displayName are
// unique in their NFC, case-folded form, so the NFD spelling of a name
// (macOS writes names so) or its upper case is a 409, and filters find the
// user by either spelling.
func TestUniquenessIsUnicodeNormalised(t *testing.T) {
	const (
		nfc = "j\u00fcrgen.m\u00fcller@contoso.com"
		nfd = "ju\u0308rgen.mu\u0308ller@contoso.com"
	)
	e := newEnv(t)
	id := e.createUser(`{"userName":"` + nfc + `","active":true}`)["id"].(string)
	other := e.createUser(`{"userName":"other@contoso.com"}`)["id"].(string)
	e.createUser(`{"userName":"Stra\u00dfe@contoso.com"}`)
	g := e.do("POST", "/scim/v2/Groups", `{"displayName":"Gr\u00fcne Gruppe"}`)
	if g.status != http.StatusCreated {
		t.Fatalf("create group: %d %s", g.status, g.body)
	}
	gid := g.json(t)["id"].(string)
	for _, tc := range []struct{ name, method, path, body string }{
		{"NFD userName", "POST", "/scim/v2/Users", `{"userName":"` + nfd + `"}`},
		{"NFD userName in upper case", "POST", "/scim/v2/Users", "{\"userName\":\"JU\u0308RGEN.MU\u0308LLER@CONTOSO.COM\"}"},
		{"NFD userName as JSON escapes", "POST", "/scim/v2/Users", `{"userName":"ju\u0308rgen.mu\u0308ller@contoso.com"}`},
		{"case-folded sharp s", "POST", "/scim/v2/Users", `{"userName":"STRASSE@contoso.com"}`},
		{"NFD group displayName", "POST", "/scim/v2/Groups", `{"displayName":"Gru\u0308ne gruppe"}`},
		{"rename to the NFD spelling", "PUT", "/scim/v2/Users/" + other, `{"userName":"` + nfd + `"}`},
		{"PATCH to the NFD spelling", "PATCH", "/scim/v2/Users/" + other, patchHead + `{"op":"replace","path":"userName","value":"` + nfd + `"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.with(t).do(tc.method, tc.path, tc.body), http.StatusConflict, "uniqueness")
		})
	}
	for _, f := range []string{
		`userName eq "` + nfd + `"`,
		`userName eq "J\u00dcRGEN.M\u00dcLLER@contoso.com"`,
		`userName eq "` + nfd + `" and active eq true`,
	} {
		res := wantList(t, e.do("GET", "/scim/v2/Users?"+filterQuery(f), ""), 1)
		if len(res) == 1 && res[0]["id"] != id {
			t.Errorf("%s found %v", f, res[0]["id"])
		}
	}
	wantList(t, e.do("GET", "/scim/v2/Groups?"+filterQuery(`displayName eq "GRU\u0308NE GRUPPE"`), ""), 1)
	// A user may rewrite its own name in another spelling.
	if r := e.do("PUT", "/scim/v2/Users/"+id, `{"userName":"`+nfd+`"}`); r.status != http.StatusOK {
		t.Errorf("PUT of its own name in NFD: %d %s", r.status, r.body)
	}
	if r := e.do("PATCH", "/scim/v2/Groups/"+gid, patchHead+`{"op":"replace","path":"displayName","value":"GR\u00dcNE GRUPPE"}]}`); r.status != http.StatusNoContent {
		t.Errorf("PATCH of a group's own name in upper case: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/scim/v2/Users", ""); r.json(t)["totalResults"] != float64(3) {
		t.Errorf("users: %s", r.body)
	}
}

// TestLastModifiedIsTheStoredOne: the lastModified a write answers is the
// one a read of the same version shows, to the digit.
func TestLastModifiedIsTheStoredOne(t *testing.T) {
	e := newEnv(t)
	meta := func(t *testing.T, r resp) (version, lastModified string) {
		t.Helper()
		if r.status/100 != 2 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		m, _ := r.json(t)["meta"].(map[string]any)
		version, _ = m["version"].(string)
		lastModified, _ = m["lastModified"].(string)
		if r.header.Get("ETag") != version || lastModified == "" {
			t.Fatalf("ETag %q, meta %v", r.header.Get("ETag"), m)
		}
		return version, lastModified
	}
	same := func(t *testing.T, what string, w resp, path string) {
		t.Helper()
		wv, wm := meta(t, w)
		rv, rm := meta(t, e.with(t).do("GET", path, ""))
		if wv != rv {
			t.Fatalf("%s: version %s, then GET %s", what, wv, rv)
		}
		if wm != rm {
			t.Errorf("%s answered lastModified %s, GET of the same version %s", what, wm, rm)
		}
	}
	c := e.do("POST", "/scim/v2/Users", `{"userName":"lm@contoso.com"}`)
	id := c.json(t)["id"].(string)
	path := "/scim/v2/Users/" + id
	same(t, "POST", c, path)
	same(t, "PUT", e.do("PUT", path, `{"userName":"lm@contoso.com","displayName":"LM"}`), path)
	same(t, "PATCH", e.do("PATCH", path, patchHead+`{"op":"replace","path":"title","value":"Boss"}]}`), path)
	if rows := wantList(t, e.do("GET", "/scim/v2/Users?"+filterQuery(`userName eq "lm@contoso.com"`), ""), 1); len(rows) == 1 {
		_, want := meta(t, e.do("GET", path, ""))
		if got := rows[0]["meta"].(map[string]any)["lastModified"]; got != want {
			t.Errorf("list shows lastModified %v, GET %s", got, want)
		}
	}

	g := e.do("POST", "/scim/v2/Groups", `{"displayName":"lm-group"}`)
	gpath := "/scim/v2/Groups/" + g.json(t)["id"].(string)
	same(t, "POST group", g, gpath)
	same(t, "PATCH of members", e.do("PATCH", gpath+"?attributes=displayName,meta", patchHead+`{"op":"add","path":"members","value":[{"value":"`+id+`"}]}]}`), gpath)
	same(t, "PATCH of displayName", e.do("PATCH", gpath+"?attributes=displayName,meta", patchHead+`{"op":"replace","path":"displayName","value":"lm-group-2"}]}`), gpath)
}
