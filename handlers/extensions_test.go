package handlers_test

import (
	"net/url"
	"strings"
	"testing"
)

const contoso = "urn:ietf:params:scim:schemas:extension:contoso:2.0:User"

// TestCustomExtension: attributes of an extension declared in configuration
// are advertised, stored, filterable and patchable like core ones, and an
// attribute that matches no schema is ignored (and logged), not rejected.
func TestCustomExtension(t *testing.T) {
	e := newEnvWith(t, envOptions{extensions: `[{"id":"` + contoso + `","resourceType":"User",
	  "attributes":[{"name":"costCenterCode"},{"name":"clearance","type":"integer"}]}]`})

	if s := e.do("GET", "/scim/v2/Schemas/"+contoso, ""); s.status != 200 || !strings.Contains(string(s.body), "costCenterCode") {
		t.Errorf("/Schemas does not advertise the extension: %d %s", s.status, s.body)
	}
	if rt := e.do("GET", "/scim/v2/ResourceTypes/User", ""); !strings.Contains(string(rt.body), contoso) {
		t.Errorf("/ResourceTypes/User does not list the extension: %s", rt.body)
	}
	created := e.createUser(`{"userName":"dave@contoso.com","` + contoso + `":{"costCenterCode":"CC-7","clearance":"2"},"favouriteColour":"teal"}`)
	id := created["id"].(string)
	ext, _ := created[contoso].(map[string]any)
	if ext["costCenterCode"] != "CC-7" || ext["clearance"] != float64(2) {
		t.Errorf("extension attributes not stored as typed values: %v", created[contoso])
	}
	if _, ok := created["favouriteColour"]; ok {
		t.Errorf("an unknown attribute was stored: %v", created)
	}
	if !strings.Contains(e.logs.String(), "favouriteColour") {
		t.Errorf("the ignored attribute's name was not logged")
	}
	e.createUser(`{"userName":"erin@contoso.com","favouriteColour":"red"}`)
	ua := e.do("GET", "/ops/v1/unknown-attributes", "", "Authorization", e.bearer(opsClient))
	if ua.status != 200 || !strings.Contains(string(ua.body), `{"client":"test","attribute":"favouriteColour","count":2}`) {
		t.Errorf("unknown attributes are not counted per client: %d %s", ua.status, ua.body)
	}
	wantError(t, e.do("GET", "/ops/v1/unknown-attributes", ""), 403, "")
	q := url.QueryEscape(contoso + `:costCenterCode eq "CC-7" and ` + contoso + `:clearance gt 1`)
	if r := e.do("GET", "/scim/v2/Users?filter="+q, ""); r.json(t)["totalResults"] != float64(1) {
		t.Errorf("filter on extension attributes: %s", r.body)
	}
	p := e.do("PATCH", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"`+contoso+`:costCenterCode","value":"CC-9"}]}`)
	if p.status != 200 || p.json(t)[contoso].(map[string]any)["costCenterCode"] != "CC-9" {
		t.Errorf("PATCH of an extension attribute: %d %s", p.status, p.body)
	}
	wantError(t, e.do("PATCH", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"`+contoso+`:clearance","value":"high"}]}`), 400, "invalidValue")
}
