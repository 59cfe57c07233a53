package scim_test

import (
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/scim"
)

func TestParseExtensions(t *testing.T) {
	users, groups, err := scim.ParseExtensions([]byte(`[
	  {"id":"urn:ietf:params:scim:schemas:extension:contoso:2.0:User","resourceType":"User",
	   "attributes":[{"name":"costCenterCode"},{"name":"clearance","type":"integer"},
	                 {"name":"badges","multiValued":true},
	                 {"name":"entraObjectId","caseExact":true},
	                 {"name":"site","type":"complex","subAttributes":[{"name":"code"},{"name":"floor","type":"integer"}]}]},
	  {"id":"urn:example:okta:2.0:Group","resourceType":"Group","attributes":[{"name":"owner"}]}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || len(groups) != 1 {
		t.Fatalf("got %d user and %d group extensions", len(users), len(groups))
	}
	u := users[0]
	if u.Name != "User" || u.Attr("COSTCENTERCODE").Type != scim.TypeString || u.Attr("clearance").Type != scim.TypeInteger {
		t.Errorf("defaults not applied: %+v", u)
	}
	if a := u.Attr("costCenterCode"); a.Mutability != scim.ReadWrite || a.Returned != scim.ReturnedDefault || a.Uniqueness != "none" {
		t.Errorf("attribute defaults: %+v", a)
	}
	rt := scim.NewUserResourceType(users...)
	n, err := scim.Normalize(map[string]any{
		"userName": "x",
		"urn:ietf:params:scim:schemas:extension:contoso:2.0:User:clearance": "3",
		"urn:ietf:params:scim:schemas:extension:contoso:2.0:User":           map[string]any{"costCenterCode": "CC-1", "unknownField": "y"},
	}, rt)
	if err != nil {
		t.Fatal(err)
	}
	ext := n.Attrs["urn:ietf:params:scim:schemas:extension:contoso:2.0:User"].(map[string]any)
	if ext["costCenterCode"] != "CC-1" || ext["clearance"] == nil {
		t.Errorf("extension attributes not stored: %v", ext)
	}
	if len(n.Unknown) != 1 || !strings.HasSuffix(n.Unknown[0], "unknownField") {
		t.Errorf("unknown attributes = %v", n.Unknown)
	}
}

func TestParseExtensionsErrors(t *testing.T) {
	cases := map[string]string{
		"not json":        `{`,
		"not a urn":       `[{"id":"contoso","resourceType":"User","attributes":[{"name":"a"}]}]`,
		"built-in":        `[{"id":"urn:ietf:params:scim:schemas:core:2.0:User","resourceType":"User","attributes":[{"name":"a"}]}]`,
		"twice":           `[{"id":"urn:x:1","resourceType":"User","attributes":[{"name":"a"}]},{"id":"urn:X:1","resourceType":"User","attributes":[{"name":"b"}]}]`,
		"no attributes":   `[{"id":"urn:x:1","resourceType":"User","attributes":[]}]`,
		"bad name":        `[{"id":"urn:x:1","resourceType":"User","attributes":[{"name":"a b"}]}]`,
		"bad type":        `[{"id":"urn:x:1","resourceType":"User","attributes":[{"name":"a","type":"text"}]}]`,
		"bad resource":    `[{"id":"urn:x:1","resourceType":"Device","attributes":[{"name":"a"}]}]`,
		"duplicate attr":  `[{"id":"urn:x:1","resourceType":"User","attributes":[{"name":"a"},{"name":"A"}]}]`,
		"complex no subs": `[{"id":"urn:x:1","resourceType":"User","attributes":[{"name":"a","type":"complex"}]}]`,
		"unknown field":   `[{"id":"urn:x:1","resourceType":"User","attributes":[{"name":"a"}],"extra":1}]`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := scim.ParseExtensions([]byte(in)); err == nil {
				t.Errorf("accepted %s", in)
			}
		})
	}
}
