package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/grantstest"
	"github.com/adfscim/adfscim/internal/rbac"
)

// TestAppRolesFitTheManifest: `adfscim approles` prints app roles an Entra
// manifest accepts (Microsoft Graph's appRole: a GUID id unique in the
// collection, a value of at most 120 characters from the allowed set, not
// starting with a dot, unique; allowedMemberTypes User; isEnabled), one per
// grant, with ids that do not change with the mapping's spelling or order,
// and values that the User's roles accept.
func TestAppRolesFitTheManifest(t *testing.T) {
	approles := func(mapping string) []rbac.AppRole {
		t.Helper()
		var out, errOut strings.Builder
		env := func(string) string { return "" }
		if code := run(t.Context(), []string{"approles", "-mapping", mapping}, env, strings.NewReader(""), &out, &errOut); code != 0 {
			t.Fatalf("approles: exit %d: %s", code, errOut.String())
		}
		var doc struct{ AppRoles []rbac.AppRole }
		if err := json.Unmarshal([]byte(out.String()), &doc); err != nil {
			t.Fatalf("approles output is not JSON: %v\n%s", err, out.String())
		}
		return doc.AppRoles
	}
	roles := approles(grantstest.Mapping())
	if len(roles) != len(grantstest.Grants) {
		t.Fatalf("%d app roles, want %d", len(roles), len(grantstest.Grants))
	}
	valueRE := regexp.MustCompile(`^[!-~]{1,120}$`) // printable ASCII, no space
	allowed := regexp.MustCompile("^[0-9A-Za-z:{#$!.\\-,+/*)(:'&%;<@?\\[>\\]^_|~}`=]+$")
	ids, values, names := map[string]bool{}, map[string]bool{}, map[string]bool{}
	m, err := rbac.ParseMapping([]byte(grantstest.Mapping()))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles {
		if !rbac.IsGUID(r.ID) || ids[r.ID] {
			t.Errorf("id %q is not a unique GUID", r.ID)
		}
		if !valueRE.MatchString(r.Value) || !allowed.MatchString(r.Value) || strings.HasPrefix(r.Value, ".") || values[r.Value] {
			t.Errorf("value %q is not a unique app role value", r.Value)
		}
		if len(r.AllowedMemberTypes) != 1 || r.AllowedMemberTypes[0] != "User" || !r.IsEnabled {
			t.Errorf("%s: allowedMemberTypes %v, isEnabled %v", r.DisplayName, r.AllowedMemberTypes, r.IsEnabled)
		}
		if r.DisplayName == "" || names[r.DisplayName] || r.Description == "" {
			t.Errorf("display name %q or description %q missing or repeated", r.DisplayName, r.Description)
		}
		ids[r.ID], values[r.Value], names[r.DisplayName] = true, true, true
		// Entra sends the value as a role; it names the grant.
		attrs := map[string]any{"roles": []any{map[string]any{"value": r.Value, "type": "WindowsAzureActiveDirectoryRole"}}}
		if _, err := m.CheckUser(nil, attrs); err != nil {
			t.Errorf("roles refuse the app role value %q: %v", r.Value, err)
		}
	}
	for _, want := range grantstest.Grants {
		if !names[want] {
			t.Errorf("no app role for %s", want)
		}
	}
	// The same grants written in another order and spelling: the same ids.
	reordered := strings.NewReplacer(`"Reader","DataFactoryContributor"`, `"data factory contributor","reader"`).Replace(grantstest.Mapping())
	for _, r := range approles(reordered) {
		if !ids[r.ID] || !values[r.Value] {
			t.Errorf("%s: id %s changed with the mapping's spelling", r.DisplayName, r.ID)
		}
	}
	// A mapping without grants is an error, not an empty manifest.
	var out, errOut strings.Builder
	if code := run(t.Context(), []string{"approles", "-mapping", `{}`}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "grants") {
		t.Errorf("approles without grants: exit %d, %q", code, errOut.String())
	}
}
