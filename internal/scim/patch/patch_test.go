package patch

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/scim"
)

const userID = "2819c223-7f76-453a-919d-413861904646"

const baseUser = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
  "id": "2819c223-7f76-453a-919d-413861904646",
  "userName": "bjensen@example.com",
  "active": true,
  "badge": "B-1",
  "name": {"givenName": "Barbara", "familyName": "Jensen"},
  "emails": [
    {"value": "bjensen@example.com", "type": "work", "primary": true},
    {"value": "babs@jensen.org", "type": "home"}
  ],
  "meta": {"resourceType": "User", "created": "2011-08-01T18:29:49.793Z"}
}`

const baseGroup = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
  "id": "abf4dd94",
  "displayName": "Pipeline operators",
  "meta": {"resourceType": "Group"}
}`

func body(ops string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + ops + `]}`
}

type applyCase struct {
	name     string
	rt       *scim.ResourceType
	base     string // resource before; baseUser when ""
	body     string
	opts     Options
	want     string // resource after (JSON); ignored when err is set
	changed  []string
	active   int    // 0 unchanged, 1 changed to true, -1 changed to false
	external *Delta // for "members"
	ignored  []string
	err      string // expected scimType
	errText  string // expected part of the detail
}

func runApply(t *testing.T, tc applyCase) {
	t.Helper()
	rt := tc.rt
	if rt == nil {
		rt = testUser
	}
	base := tc.base
	if base == "" {
		base = baseUser
		if rt == testGroup {
			base = baseGroup
		}
	}
	opts := tc.opts
	if opts.ID == "" {
		opts.ID = userID
		if rt == testGroup {
			opts.ID = "abf4dd94"
		}
	}
	if rt == testGroup && opts.External == nil {
		opts.External = []string{"members"}
	}
	res := decode(t, base)
	before := canon(t, res)
	ops, err := Parse([]byte(tc.body))
	var r Result
	if err == nil {
		r, err = Apply(res, ops, rt, opts)
	}
	if after := canon(t, res); after != before {
		t.Fatalf("Apply modified its input:\n%s\nwas\n%s", after, before)
	}
	if tc.err != "" {
		se, ok := scim.AsError(err)
		if !ok || se.Code != scim.CodeInvalid || se.ScimType != tc.err {
			t.Fatalf("error = %v, want 400 %s", err, tc.err)
		}
		if !strings.Contains(se.Detail, tc.errText) {
			t.Errorf("detail %q does not mention %q", se.Detail, tc.errText)
		}
		return
	}
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !sameJSON(t, r.Resource, tc.want) {
		t.Errorf("resource:\n got %s\nwant %s", canon(t, r.Resource), canon(t, decode(t, tc.want)))
	}
	if !reflect.DeepEqual(r.Changed, tc.changed) {
		t.Errorf("Changed = %q, want %q", r.Changed, tc.changed)
	}
	wantAC := tc.active != 0
	if slices.Contains(r.Changed, "active") != wantAC || (wantAC && r.Resource["active"] != (tc.active > 0)) {
		t.Errorf("Changed %q, active = %v; want change %d", r.Changed, r.Resource["active"], tc.active)
	}
	gotDelta := r.External["members"]
	if tc.external == nil {
		if gotDelta != nil && !gotDelta.Empty() {
			t.Errorf("members delta = %+v, want none", *gotDelta)
		}
	} else if gotDelta == nil || !reflect.DeepEqual(*gotDelta, *tc.external) {
		t.Errorf("members delta = %+v, want %+v", gotDelta, *tc.external)
	}
	if !reflect.DeepEqual(r.Ignored, tc.ignored) {
		t.Errorf("Ignored = %q, want %q", r.Ignored, tc.ignored)
	}
}

// with returns baseUser with the top-level keys of patch merged in (null
// deletes), to write expectations compactly.
func with(t *testing.T, base string, patch string) string {
	m := decode(t, base)
	for k, v := range decode(t, patch) {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return canon(t, m)
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, body string
		ops        []string // "op path"
		err        string
	}{
		{"capitalised ops", body(`{"op":"Replace","path":"active","value":"False"},{"op":"Add","path":"title","value":"x"},{"op":"Remove","path":"title"}`), []string{"replace active", "add title", "remove title"}, ""},
		{"upper-case op", body(`{"op":"ADD","path":"title","value":"x"}`), []string{"add title"}, ""},
		{"lower-case schemas and members", `{"SCHEMAS":["URN:ietf:params:scim:api:messages:2.0:patchop"],"operations":[{"OP":"remove","PATH":"title"}]}`, []string{"remove title"}, ""},
		{"no schemas", `{"Operations":[{"op":"remove","path":"title"}]}`, []string{"remove title"}, ""},
		{"extra members tolerated", `{"id":"g1","schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"name":"addMember","op":"add","path":"members","value":"string id 1"}]}`, []string{"add members"}, ""},
		{"path-less", body(`{"op":"replace","value":{"active":false}}`), []string{"replace "}, ""},
		{"wrong schema", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"Operations":[{"op":"remove","path":"x"}]}`, nil, scim.ErrInvalidSyntax},
		{"not JSON", `{"Operations":[`, nil, scim.ErrInvalidSyntax},
		{"no operations", body(``), nil, scim.ErrInvalidSyntax},
		{"unknown op", body(`{"op":"move","path":"x"}`), nil, scim.ErrInvalidSyntax},
		{"add without value", body(`{"op":"add","path":"title"}`), nil, scim.ErrInvalidValue},
		{"remove without path", body(`{"op":"remove"}`), nil, scim.ErrNoTarget},
		{"bad path", body(`{"op":"remove","path":"name..x"}`), nil, scim.ErrInvalidPath},
		{"bad filter in path", body(`{"op":"remove","path":"emails[type eq]"}`), nil, scim.ErrInvalidFilter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := Parse([]byte(tc.body))
			if tc.err != "" {
				se, ok := scim.AsError(err)
				if !ok || se.Code != scim.CodeInvalid || se.ScimType != tc.err {
					t.Fatalf("error = %v, want 400 %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range ops {
				got = append(got, o.Op+" "+o.Path)
				if (o.Path == "") != (o.ParsedPath() == nil) {
					t.Errorf("path %q parsed as %v", o.Path, o.ParsedPath())
				}
			}
			if !reflect.DeepEqual(got, tc.ops) {
				t.Errorf("ops = %q, want %q", got, tc.ops)
			}
		})
	}
}

// TestEntraDefault covers Microsoft Entra ID without aadOptscim062020.
func TestEntraDefault(t *testing.T) {
	ent := scim.SchemaEnterpriseUser
	tests := []applyCase{
		{
			name: "Replace active with string boolean",
			body: body(`{"op":"Replace","path":"active","value":"False"}`),
			want: with(t, baseUser, `{"active": false}`), changed: []string{"active"}, active: -1,
		},
		{
			name: "Replace active True again is no change",
			body: body(`{"op":"Replace","path":"active","value":"True"}`),
			want: baseUser,
		},
		{
			name:    "Replace work email value by value filter",
			body:    body(`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"new@example.com"}`),
			want:    with(t, baseUser, `{"emails":[{"value":"new@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"}]}`),
			changed: []string{"emails"},
		},
		{
			name:    "Add work phone creates the value from the filter",
			body:    body(`{"op":"Add","path":"phoneNumbers[type eq \"work\"].value","value":"+1 555 0100"}`),
			want:    with(t, baseUser, `{"phoneNumbers":[{"type":"work","value":"+1 555 0100"}]}`),
			changed: []string{"phoneNumbers"},
		},
		{
			name: "Replace name.givenName",
			body: body(`{"op":"Replace","path":"name.givenName","value":"Babs"}`),
			want: with(t, baseUser, `{"name":{"givenName":"Babs","familyName":"Jensen"}}`), changed: []string{"name"},
		},
		{
			name:    "Add enterprise employeeNumber by URN path",
			body:    body(`{"op":"Add","path":"` + ent + `:employeeNumber","value":"701984"}`),
			want:    with(t, baseUser, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","`+ent+`"],"`+ent+`":{"employeeNumber":"701984"}}`),
			changed: []string{ent + ":employeeNumber"},
		},
		{
			name:    "Add manager as a string",
			body:    body(`{"op":"Add","path":"` + ent + `:manager","value":"26118915-6090-4610-87e4-49d8ca9f808d"}`),
			want:    with(t, baseUser, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","`+ent+`"],"`+ent+`":{"manager":{"value":"26118915-6090-4610-87e4-49d8ca9f808d"}}}`),
			changed: []string{ent + ":manager"},
		},
		{
			name:    "Replace manager as a one-element array",
			body:    body(`{"op":"Replace","path":"` + ent + `:manager","value":[{"value":"m3"}]}`),
			want:    with(t, baseUser, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","`+ent+`"],"`+ent+`":{"manager":{"value":"m3"}}}`),
			changed: []string{ent + ":manager"},
		},
		{
			name: "Replace a single-valued attribute with a longer array",
			body: body(`{"op":"Replace","path":"title","value":["a","b"]}`),
			err:  scim.ErrInvalidValue, errText: "not an array",
		},
		{
			name:    "Replace manager as an object",
			base:    with(t, baseUser, `{"`+ent+`":{"manager":{"value":"old"}}}`),
			body:    body(`{"op":"Replace","path":"` + ent + `:manager","value":{"value":"new"}}`),
			want:    with(t, baseUser, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","`+ent+`"],"`+ent+`":{"manager":{"value":"new"}}}`),
			changed: []string{ent + ":manager"},
		},
		{
			name:    "Remove manager empties and drops the extension",
			base:    with(t, baseUser, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","`+ent+`"],"`+ent+`":{"manager":{"value":"old"}}}`),
			body:    body(`{"op":"Remove","path":"` + ent + `:manager"}`),
			want:    with(t, baseUser, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}`),
			changed: []string{ent + ":manager"},
		},
		{
			name: "Group: Replace displayName, Add and Remove one member",
			rt:   testGroup,
			body: body(`{"op":"Replace","path":"displayName","value":"Renamed"},
				{"op":"Add","path":"members","value":[{"$ref":null,"value":"u1"},{"value":"u2"}]},
				{"op":"Remove","path":"members","value":[{"$ref":null,"value":"u1"}]},
				{"op":"Remove","path":"members","value":[{"value":"u9"}]}`),
			want:     with(t, baseGroup, `{"displayName":"Renamed"}`),
			changed:  []string{"displayName", "members"},
			external: &Delta{Removed: []string{"u1", "u9"}, Added: []Member{{Value: "u2"}}},
		},
		{
			name:     "Group: Remove with a value never empties the group",
			rt:       testGroup,
			body:     body(`{"op":"Remove","path":"members","value":[]}`),
			want:     baseGroup,
			external: &Delta{},
		},
		{
			name: "unknown attribute is ignored and reported",
			body: body(`{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:costCenter","value":"42"},{"op":"Replace","path":"nickname","value":"Babs"}`),
			want: with(t, baseUser, `{"nickName":"Babs"}`), changed: []string{"nickName"},
			ignored: []string{"urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:costCenter"},
		},
		{
			name: "string boolean that is not a boolean",
			body: body(`{"op":"Replace","path":"active","value":"maybe"}`),
			err:  scim.ErrInvalidValue, errText: `"active" is of type boolean`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runApply(t, tc) })
	}
}

// TestEntraFlag covers Entra with aadOptscim062020 on the tenant URL.
func TestEntraFlag(t *testing.T) {
	ent := scim.SchemaEnterpriseUser
	tests := []applyCase{
		{
			name: "lower-case replace with real boolean",
			body: body(`{"op":"replace","path":"active","value":false}`),
			want: with(t, baseUser, `{"active": false}`), changed: []string{"active"}, active: -1,
		},
		{
			name:     "remove one member by value filter",
			rt:       testGroup,
			body:     body(`{"op":"remove","path":"members[value eq \"u1\"]"}`),
			want:     baseGroup,
			changed:  []string{"members"},
			external: &Delta{Removed: []string{"u1"}},
		},
		{
			name: "path-less replace with dotted and URN-qualified keys",
			body: body(`{"op":"replace","value":{"name.givenName":"Babs","name.familyName":"J","` + ent + `:employeeNumber":"7","` + ent + `:manager":"m1","active":false,"emails[type eq \"work\"].value":"w@example.com"}}`),
			want: with(t, baseUser, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","`+ent+`"],"active":false,
				"name":{"givenName":"Babs","familyName":"J"},
				"emails":[{"value":"w@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"}],
				"`+ent+`":{"employeeNumber":"7","manager":{"value":"m1"}}}`),
			changed: []string{"active", "emails", "name", ent + ":employeeNumber", ent + ":manager"},
			active:  -1,
		},
		{
			name:    "path-less add with the extension URN as key",
			body:    body(`{"op":"add","value":{"` + ent + `":{"department":"Finance","manager":{"value":"m2"}},"title":"CFO"}}`),
			want:    with(t, baseUser, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","`+ent+`"],"title":"CFO","`+ent+`":{"department":"Finance","manager":{"value":"m2"}}}`),
			changed: []string{"title", ent + ":department", ent + ":manager"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runApply(t, tc) })
	}
}

// TestOkta covers Okta's user deactivation and group push.
func TestOkta(t *testing.T) {
	tests := []applyCase{
		{
			name: "path-less deactivation",
			body: body(`{"op":"replace","value":{"active":false}}`),
			want: with(t, baseUser, `{"active": false}`), changed: []string{"active"}, active: -1,
		},
		{
			name: "group push renames and carries its own id",
			rt:   testGroup,
			body: body(`{"op":"replace","value":{"id":"abf4dd94","displayName":"Test SCIMv2"}}`),
			want: with(t, baseGroup, `{"displayName":"Test SCIMv2"}`), changed: []string{"displayName"},
		},
		{
			name: "group push with another id is refused",
			rt:   testGroup,
			body: body(`{"op":"replace","value":{"id":"other","displayName":"Test SCIMv2"}}`),
			err:  scim.ErrMutability, errText: `"id" is readOnly`,
		},
		{
			name:     "members added as an array",
			rt:       testGroup,
			body:     body(`{"op":"add","path":"members","value":[{"value":"u1","display":"one@okta.local"},{"value":"u2"}]}`),
			want:     baseGroup,
			changed:  []string{"members"},
			external: &Delta{Added: []Member{{Value: "u1", Display: "one@okta.local"}, {Value: "u2"}}},
		},
		{
			name:     "replace members with an empty list empties the group",
			rt:       testGroup,
			body:     body(`{"op":"replace","path":"members","value":[]}`),
			want:     baseGroup,
			changed:  []string{"members"},
			external: &Delta{RemoveAll: true},
		},
		{
			name:     "remove members without value empties the group",
			rt:       testGroup,
			body:     body(`{"op":"remove","path":"members"}`),
			want:     baseGroup,
			changed:  []string{"members"},
			external: &Delta{RemoveAll: true},
		},
		{
			name:     "replace members with a list",
			rt:       testGroup,
			body:     body(`{"op":"add","path":"members","value":[{"value":"u0"}]},{"op":"replace","path":"members","value":[{"value":"u1"},{"value":"u2"}]},{"op":"remove","path":"members[value eq \"u2\"]"}`),
			want:     baseGroup,
			changed:  []string{"members"},
			external: &Delta{RemoveAll: true, Added: []Member{{Value: "u1"}}},
		},
		{
			name:     "path-less replace with members",
			rt:       testGroup,
			body:     body(`{"op":"replace","value":{"id":"abf4dd94","displayName":"G","members":[{"value":"u1"}]}}`),
			want:     with(t, baseGroup, `{"displayName":"G"}`),
			changed:  []string{"displayName", "members"},
			external: &Delta{RemoveAll: true, Added: []Member{{Value: "u1"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runApply(t, tc) })
	}
}

// TestRFC covers the remaining RFC 7644 §3.5.2 semantics and the edge
// cases of the test suite.
func TestRFC(t *testing.T) {
	tests := []applyCase{
		{
			name:    "add to multi-valued appends and keeps primary unique",
			body:    body(`{"op":"add","path":"emails","value":[{"value":"new@example.com","type":"other","primary":"True"}]}`),
			want:    with(t, baseUser, `{"emails":[{"value":"bjensen@example.com","type":"work","primary":false},{"value":"babs@jensen.org","type":"home"},{"value":"new@example.com","type":"other","primary":true}]}`),
			changed: []string{"emails"},
		},
		{
			name: "add of an existing value does not duplicate it",
			body: body(`{"op":"add","path":"emails","value":{"value":"babs@jensen.org","type":"home"}}`),
			want: baseUser,
		},
		{
			name: "replace multi-valued replaces all values",
			body: body(`{"op":"replace","path":"emails","value":[{"value":"only@example.com"}]}`),
			want: with(t, baseUser, `{"emails":[{"value":"only@example.com"}]}`), changed: []string{"emails"},
		},
		{
			name: "replace complex merges sub-attributes",
			body: body(`{"op":"replace","path":"name","value":{"middleName":"M","FAMILYNAME":"Jensen-Smith"}}`),
			want: with(t, baseUser, `{"name":{"givenName":"Barbara","middleName":"M","familyName":"Jensen-Smith"}}`), changed: []string{"name"},
		},
		{
			name:    "replace with filter and no sub replaces the matched value",
			body:    body(`{"op":"replace","path":"emails[type eq \"home\"]","value":{"value":"h@example.com","type":"home"}}`),
			want:    with(t, baseUser, `{"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"h@example.com","type":"home"}]}`),
			changed: []string{"emails"},
		},
		{
			name: "replace with a filter that matches nothing is noTarget",
			body: body(`{"op":"replace","path":"emails[type eq \"other\"].value","value":"x@example.com"}`),
			err:  scim.ErrNoTarget, errText: `no value of "emails" matches`,
		},
		{
			name:    "replace with a filter that matches nothing adds with UpsertOnNoMatch",
			opts:    Options{UpsertOnNoMatch: true},
			body:    body(`{"op":"replace","path":"emails[type eq \"other\"].value","value":"x@example.com"}`),
			want:    with(t, baseUser, `{"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"},{"type":"other","value":"x@example.com"}]}`),
			changed: []string{"emails"},
		},
		{
			name: "remove with filter",
			body: body(`{"op":"remove","path":"emails[type eq \"home\" or value ew \"jensen.org\"]"}`),
			want: with(t, baseUser, `{"emails":[{"value":"bjensen@example.com","type":"work","primary":true}]}`), changed: []string{"emails"},
		},
		{
			name: "remove with filter matching nothing is a no-op",
			body: body(`{"op":"remove","path":"emails[type eq \"other\"]"}`),
			want: baseUser,
		},
		{
			name: "remove sub-attribute of matched values",
			body: body(`{"op":"remove","path":"emails[type eq \"work\"].primary"}`),
			want: with(t, baseUser, `{"emails":[{"value":"bjensen@example.com","type":"work"},{"value":"babs@jensen.org","type":"home"}]}`), changed: []string{"emails"},
		},
		{
			name: "remove the last value drops the attribute",
			body: body(`{"op":"remove","path":"emails[value pr]"}`),
			want: with(t, baseUser, `{"emails":null}`), changed: []string{"emails"},
		},
		{
			name: "remove listed values of a multi-valued attribute",
			body: body(`{"op":"remove","path":"emails","value":[{"value":"BABS@jensen.org"}]}`),
			want: with(t, baseUser, `{"emails":[{"value":"bjensen@example.com","type":"work","primary":true}]}`), changed: []string{"emails"},
		},
		{
			name: "remove a simple attribute",
			body: body(`{"op":"remove","path":"name.givenName"},{"op":"remove","path":"title"}`),
			want: with(t, baseUser, `{"name":{"familyName":"Jensen"}}`), changed: []string{"name"},
		},
		{
			name: "null value clears",
			body: body(`{"op":"replace","path":"name","value":null}`),
			want: with(t, baseUser, `{"name":null}`), changed: []string{"name"},
		},
		{
			name: "numbers and numeric strings for an integer",
			body: body(`{"op":"add","path":"age","value":"42"}`),
			want: with(t, baseUser, `{"age":42}`), changed: []string{"age"},
		},
		{
			name: "attribute names in any case become canonical",
			base: with(t, baseUser, `{"name":null,"NAME":{"GIVENNAME":"B"}}`),
			body: body(`{"op":"replace","path":"Name.FamilyName","value":"J"}`),
			want: with(t, baseUser, `{"name":{"givenName":"B","familyName":"J"}}`), changed: []string{"name"},
		},
		{
			name: "readOnly attribute",
			body: body(`{"op":"replace","path":"meta.created","value":"2020-01-01T00:00:00Z"}`),
			err:  scim.ErrMutability, errText: "readOnly",
		},
		{
			name: "readOnly groups",
			body: body(`{"op":"add","path":"groups","value":[{"value":"g"}]}`),
			err:  scim.ErrMutability, errText: "readOnly",
		},
		{
			name: "readOnly sub-attribute",
			body: body(`{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName","value":"Boss"}`),
			err:  scim.ErrMutability, errText: "readOnly",
		},
		{
			name: "immutable attribute can be set to its own value only",
			body: body(`{"op":"replace","path":"badge","value":"B-1"},{"op":"replace","path":"badge","value":"B-2"}`),
			err:  scim.ErrMutability, errText: "immutable",
		},
		{
			name: "required attribute cannot be removed",
			body: body(`{"op":"remove","path":"userName"}`),
			err:  scim.ErrMutability, errText: "required",
		},
		{
			name: "wrong type",
			body: body(`{"op":"replace","path":"userName","value":{"a":1}}`),
			err:  scim.ErrInvalidValue, errText: "cannot take an object",
		},
		{
			name: "path-less value must be an object",
			body: body(`{"op":"add","value":"x"}`),
			err:  scim.ErrInvalidValue, errText: "needs an object value",
		},
		{
			name: "filter on a single-valued attribute",
			body: body(`{"op":"replace","path":"name[givenName eq \"x\"].familyName","value":"y"}`),
			err:  scim.ErrInvalidPath, errText: "not a multi-valued complex attribute",
		},
		{
			name: "filter that does not validate",
			body: body(`{"op":"replace","path":"emails[primary gt 1].value","value":"y"}`),
			err:  scim.ErrInvalidFilter, errText: "column",
		},
		{
			name: "members selected by a filter other than value eq",
			rt:   testGroup,
			body: body(`{"op":"remove","path":"members[display eq \"x\"]"}`),
			err:  scim.ErrInvalidFilter, errText: "only value eq",
		},
		{
			name: "member value without an id",
			rt:   testGroup,
			body: body(`{"op":"add","path":"members","value":[{"display":"x"}]}`),
			err:  scim.ErrInvalidValue, errText: `a member needs a non-empty string value`,
		},
		{
			name:     "member as a bare string (Microsoft test suite)",
			rt:       testGroup,
			body:     `{"id":"abf4dd94","Operations":[{"op":"add","path":"members","value":"string id 1"}],"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`,
			want:     baseGroup,
			changed:  []string{"members"},
			external: &Delta{Added: []Member{{Value: "string id 1"}}},
		},
		{
			name: "a later error undoes earlier operations",
			body: body(`{"op":"replace","path":"active","value":false},{"op":"add","path":"name.givenName","value":"X"},{"op":"replace","path":"id","value":"x"}`),
			err:  scim.ErrMutability, errText: "Operations[2]",
		},
		{
			name:    "replace the whole extension by its URN path",
			base:    with(t, baseUser, `{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"A"}}`),
			body:    body(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":{"employeeNumber":"9"}}`),
			want:    with(t, baseUser, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"A","employeeNumber":"9"}}`),
			changed: []string{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runApply(t, tc) })
	}
}
