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
