package filter

import (
	"testing"

	"github.com/adfscim/adfscim/internal/scim"
)

// TestProjectTypes runs the filters IdPs and Microsoft's collection send
// against the project's own User and Group types.
func TestProjectTypes(t *testing.T) {
	user, group := scim.NewUserResourceType(), scim.NewGroupResourceType()
	u := decode(t, `{"id":"u1","userName":"OMalley","active":true,
		"name":{"familyName":"Employee","givenName":"Ryan"},
		"emails":[{"value":"ryan@example.org","type":"work","primary":true}],
		"meta":{"created":"2026-11-26T20:00:00Z"},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1"}}}`)
	g := decode(t, `{"id":"g1","displayName":"Operators","externalId":"8aa1a0c0"}`)
	tests := []struct {
		rt     *scim.ResourceType
		res    map[string]any
		filter string
		want   bool
	}{
		{user, u, `name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)`, true},
		{user, u, `userName sw O`, true},
		{user, u, `userName eq "omalley"`, true},
		{user, u, `meta.Created gt 2015-10-10T14:38:21.8617979-07:00`, true},
		{user, u, `DisplayName eq "BobIsAmazing"`, false},
		{user, u, `emails[type eq "work" and value co "@example.org"]`, true},
		{user, u, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1"`, true},
		{user, u, `active eq "True"`, true},
		{group, g, `displayName eq "operators"`, true},
		{group, g, `externalId eq "8AA1A0C0"`, false}, // externalId is caseExact
		{group, g, `id eq "g1" and displayName pr`, true},
	}
	for _, tc := range tests {
		e, err := Parse(tc.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.filter, err)
		}
		if err := e.Validate(tc.rt); err != nil {
			t.Fatalf("Validate(%q): %v", tc.filter, err)
		}
		if got := e.Match(tc.res, tc.rt); got != tc.want {
			t.Errorf("%s: Match = %v, want %v", tc.filter, got, tc.want)
		}
	}
}

func TestCompile(t *testing.T) {
	user := scim.NewUserResourceType()
	e, err := Compile(`userName eq "bjensen" and active eq true`, user)
	if err != nil {
		t.Fatal(err)
	}
	if a, v, ok := e.LookupFor("userName", "externalId", "id"); !ok || a != "userName" || v != "bjensen" {
		t.Errorf("LookupFor = %q, %q, %v", a, v, ok)
	}
	for _, bad := range []string{`userName eq`, `active gt 1`} {
		if _, err := Compile(bad, user); err == nil {
			t.Errorf("Compile(%q) accepted", bad)
		} else if se, ok := scim.AsError(err); !ok || se.ScimType != scim.ErrInvalidFilter {
			t.Errorf("Compile(%q) error %v, want invalidFilter", bad, err)
		}
	}
}
