package patch

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/adfscim/adfscim/internal/scim"
)

// Resource types of the tests' own, shaped like the User and Group of RFC
// 7643 with the enterprise extension.
func attr(name string, typ scim.AttrType, mut string, subs ...*scim.Attribute) *scim.Attribute {
	return &scim.Attribute{Name: name, Type: typ, Mutability: mut, SubAttributes: subs}
}

func multi(a *scim.Attribute) *scim.Attribute { a.MultiValued = true; return a }

func required(a *scim.Attribute) *scim.Attribute { a.Required = true; return a }

var (
	rw = scim.ReadWrite
	ro = scim.ReadOnly

	testEnterprise = &scim.Schema{ID: scim.SchemaEnterpriseUser, Attributes: []*scim.Attribute{
		attr("employeeNumber", scim.TypeString, rw),
		attr("department", scim.TypeString, rw),
		attr("manager", scim.TypeComplex, rw,
			attr("value", scim.TypeString, rw), attr("$ref", scim.TypeReference, rw), attr("displayName", scim.TypeString, ro)),
	}}

	testUser = &scim.ResourceType{ID: "User", Name: "User", Endpoint: "/Users",
		Schema: &scim.Schema{ID: scim.SchemaUser, Attributes: []*scim.Attribute{
			required(attr("userName", scim.TypeString, rw)),
			attr("displayName", scim.TypeString, rw),
			attr("nickName", scim.TypeString, rw),
			attr("title", scim.TypeString, rw),
			attr("active", scim.TypeBoolean, rw),
			attr("age", scim.TypeInteger, rw),
			attr("badge", scim.TypeString, scim.Immutable),
			attr("name", scim.TypeComplex, rw,
				attr("formatted", scim.TypeString, rw), attr("familyName", scim.TypeString, rw),
				attr("givenName", scim.TypeString, rw), attr("middleName", scim.TypeString, rw)),
			multi(attr("emails", scim.TypeComplex, rw,
				attr("value", scim.TypeString, rw), attr("type", scim.TypeString, rw),
				attr("primary", scim.TypeBoolean, rw), attr("display", scim.TypeString, rw))),
			multi(attr("phoneNumbers", scim.TypeComplex, rw,
				attr("value", scim.TypeString, rw), attr("type", scim.TypeString, rw), attr("primary", scim.TypeBoolean, rw))),
			multi(attr("addresses", scim.TypeComplex, rw,
				attr("streetAddress", scim.TypeString, rw), attr("locality", scim.TypeString, rw),
				attr("type", scim.TypeString, rw), attr("primary", scim.TypeBoolean, rw))),
			multi(attr("roles", scim.TypeComplex, rw,
				attr("value", scim.TypeString, rw), attr("display", scim.TypeString, rw),
				attr("type", scim.TypeString, rw), attr("primary", scim.TypeBoolean, rw))),
			multi(attr("groups", scim.TypeComplex, ro,
				attr("value", scim.TypeString, ro), attr("display", scim.TypeString, ro))),
		}},
		Extensions: []scim.SchemaExtension{{Schema: testEnterprise}},
	}

	testGroup = &scim.ResourceType{ID: "Group", Name: "Group", Endpoint: "/Groups",
		Schema: &scim.Schema{ID: scim.SchemaGroup, Attributes: []*scim.Attribute{
			required(attr("displayName", scim.TypeString, rw)),
			multi(attr("members", scim.TypeComplex, rw,
				attr("value", scim.TypeString, scim.Immutable), attr("display", scim.TypeString, rw),
				attr("type", scim.TypeString, scim.Immutable), attr("$ref", scim.TypeReference, scim.Immutable))),
		}},
	}
)

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

func canon(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

func sameJSON(t testing.TB, got map[string]any, want string) bool {
	t.Helper()
	return reflect.DeepEqual(got, decode(t, want))
}

// traceDir is Microsoft's and Okta's recorded exchanges (from
// elimity-com/scim, MIT licence, LICENSE.md beside them).
const traceDir = "../../../testdata/idp-traces"

// traceRequest returns the request body of a recorded exchange.
func traceRequest(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(traceDir, name))
	if err != nil {
		t.Fatalf("IdP traces: %v", err)
	}
	var ex struct {
		Request json.RawMessage `json:"request"`
	}
	if err := json.Unmarshal(b, &ex); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ex.Request
}
