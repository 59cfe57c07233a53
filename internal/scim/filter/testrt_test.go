package filter

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/adfscim/adfscim/internal/scim"
)

// Small resource types of the tests' own, shaped like User and Group.
func str(name string, caseExact bool) *scim.Attribute {
	return &scim.Attribute{Name: name, Type: scim.TypeString, CaseExact: caseExact, Mutability: scim.ReadWrite}
}

var testEnterprise = &scim.Schema{
	ID: scim.SchemaEnterpriseUser,
	Attributes: []*scim.Attribute{
		str("employeeNumber", false),
		str("department", false),
		{Name: "manager", Type: scim.TypeComplex, Mutability: scim.ReadWrite, SubAttributes: []*scim.Attribute{
			str("value", false), str("displayName", false),
		}},
	},
}

var testUser = &scim.ResourceType{
	ID: "User", Name: "User", Endpoint: "/Users",
	Schema: &scim.Schema{ID: scim.SchemaUser, Attributes: []*scim.Attribute{
		str("userName", false),
		str("displayName", false),
		str("nickName", true),
		{Name: "active", Type: scim.TypeBoolean, Mutability: scim.ReadWrite},
		{Name: "age", Type: scim.TypeInteger, Mutability: scim.ReadWrite},
		{Name: "photo", Type: scim.TypeBinary, Mutability: scim.ReadWrite},
		{Name: "name", Type: scim.TypeComplex, Mutability: scim.ReadWrite, SubAttributes: []*scim.Attribute{
			str("familyName", false), str("givenName", false), str("formatted", false),
		}},
		{Name: "emails", Type: scim.TypeComplex, MultiValued: true, Mutability: scim.ReadWrite, SubAttributes: []*scim.Attribute{
			str("value", false), str("type", false), {Name: "primary", Type: scim.TypeBoolean, Mutability: scim.ReadWrite},
		}},
		{Name: "roles", Type: scim.TypeString, MultiValued: true, Mutability: scim.ReadWrite},
	}},
	Extensions: []scim.SchemaExtension{{Schema: testEnterprise}},
}

// decode parses a JSON object the way the service does (UseNumber).
func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return m
}
