package rbac_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/adfscim/adfscim/internal/rbac"
)

const (
	sub      = "11111111-2222-3333-4444-555555555555"
	factoryA = "/subscriptions/" + sub + "/resourceGroups/rg-data/providers/Microsoft.DataFactory/factories/adf-a"
	factoryB = "/subscriptions/" + sub + "/resourceGroups/rg-data/providers/Microsoft.DataFactory/factories/adf-b"
	factoryC = "/subscriptions/" + sub + "/resourceGroups/rg-data/providers/Microsoft.DataFactory/factories/adf-c"
	roleDFC  = "673868aa-7521-48a0-acc6-0f60742d39f5"
	roleRdr  = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	roleOps  = "9e3f7a52-0c1d-4b6e-8f2a-1a2b3c4d5e6f" // a custom Operator role
)

func TestParseMappingValid(t *testing.T) {
	js := `{
	  "factories": {"a": "` + factoryA + `", "b": "` + factoryB + `"},
	  "bindings": [
	    {"group": "Analysts", "role": "Data Factory Contributor", "factories": ["a", "b"]},
	    {"groupExternalId": "aaaaaaaa-0000-0000-0000-000000000001", "role": "reader", "factories": ["` + factoryC + `"], "mode": "group"},
	    {"group": "Operators", "role": "/subscriptions/` + sub + `/providers/Microsoft.Authorization/roleDefinitions/` + strings.ToUpper(roleOps) + `", "factories": ["a"]}
	  ]}`
	m, err := ParseMapping([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(m.Factories); got != 3 {
		t.Errorf("factories = %d, want 3: %v", got, m.Factories)
	}
	wantRoles := []string{roleDFC, roleRdr, roleOps}
	for i, b := range m.Bindings {
		if b.RoleID != wantRoles[i] {
			t.Errorf("binding %d role = %s, want %s", i, b.RoleID, wantRoles[i])
		}
	}
	if m.Bindings[0].Mode != ModeUser || m.Bindings[1].Mode != ModeGroup {
		t.Errorf("modes = %s, %s", m.Bindings[0].Mode, m.Bindings[1].Mode)
	}
	if !m.MappedFactory(strings.ToUpper(factoryA)) || !m.MappedFactory(strings.TrimPrefix(factoryB, "/")) {
		t.Error("factory lookup is not case- and slash-insensitive")
	}
	if !matchesGroupName(m, "analysts") {
		t.Error("displayName match must ignore case")
	}
}

func matchesGroupName(m *Mapping, name string) bool {
	for _, b := range m.Bindings {
		if b.MatchesGroup(Group{DisplayName: name}) {
			return true
		}
	}
	return false
}

func TestParseMappingErrors(t *testing.T) {
	tests := []struct {
		name, js, want string
	}{
		{"unknown role", `{"factories":{"a":"` + factoryA + `"},"bindings":[{"group":"G","role":"Owner-ish","factories":["a"]}]}`, `unknown role "Owner-ish"`},
		{"malformed factory id", `{"factories":{"a":"/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s"},"bindings":[]}`, `is not a Data Factory resource id`},
		{"unknown alias", `{"bindings":[{"group":"G","role":"Reader","factories":["nope"]}]}`, `"nope" is neither an alias`},
		{"duplicate binding", `{"factories":{"a":"` + factoryA + `"},"bindings":[{"group":"G","role":"Reader","factories":["a"]},{"group":"g","role":"` + roleRdr + `","factories":["` + factoryA + `"]}]}`, `duplicate binding`},
		{"empty group ref", `{"factories":{"a":"` + factoryA + `"},"bindings":[{"group":"  ","role":"Reader","factories":["a"]}]}`, `empty group reference`},
		{"both group refs", `{"factories":{"a":"` + factoryA + `"},"bindings":[{"group":"G","groupExternalId":"x","role":"Reader","factories":["a"]}]}`, `only one of`},
		{"bad mode", `{"factories":{"a":"` + factoryA + `"},"bindings":[{"group":"G","role":"Reader","factories":["a"],"mode":"team"}]}`, `unknown mode "team"`},
		{"no factories", `{"bindings":[{"group":"G","role":"Reader"}]}`, `no factories`},
		{"unknown field", `{"factorys":{}}`, `unknown field`},
		{"not json", `{`, `invalid mapping`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMapping([]byte(tt.js))
			if err == nil {
				t.Fatal("want an error")
			}
			if !errors.Is(err, ErrMapping) {
				t.Errorf("error %v does not wrap ErrMapping", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// The shape infra/main.bicep writes to ADFSCIM_MAPPING: no aliases, roles
// resolved to GUIDs, group by displayName or externalId in one field.
func TestParseMappingAsDeployed(t *testing.T) {
	js := `{"bindings":[{"group":"Analysts","role":"` + roleDFC + `","factories":["` + factoryA + `"]},
		{"group":"aaaaaaaa-0000-0000-0000-000000000009","role":"DataFactoryContributor","factories":["` + factoryB + `"]}]}`
	m, err := ParseMapping([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	byExt := Group{DisplayName: "Whatever", ExternalID: "aaaaaaaa-0000-0000-0000-000000000009"}
	if !m.Bindings[1].MatchesGroup(byExt) || m.Bindings[0].MatchesGroup(byExt) {
		t.Error("group must match the externalId too")
	}
	if m.Bindings[1].RoleID != roleDFC {
		t.Errorf("alias DataFactoryContributor resolved to %q", m.Bindings[1].RoleID)
	}
	empty, err := LoadMapping("  ")
	if err != nil || len(empty.Bindings) != 0 || empty.MappedRole(roleDFC) {
		t.Errorf("empty mapping: %+v, %v", empty, err)
	}
}

func TestLoadMappingFileAndInline(t *testing.T) {
	js := `{"factories":{"a":"` + factoryA + `"},"bindings":[{"group":"G","role":"Reader","factories":["a"]}]}`
	path := filepath.Join(t.TempDir(), "mapping.json")
	if err := os.WriteFile(path, []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{js, path} {
		m, err := LoadMapping(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if len(m.Bindings) != 1 || m.Bindings[0].RoleID != roleRdr {
			t.Errorf("%s: bindings = %+v", src, m.Bindings)
		}
	}
	if _, err := LoadMapping(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("missing file must fail")
	}
}

// TestRoleNamesAsDocumented: the names infra/main.bicep and docs/deploy.md
// give a binding (DataFactoryContributor, Reader, PipelineOperator) and
// the display names are all accepted, in any case; an unknown name's error
// lists exactly what is.
func TestRoleNamesAsDocumented(t *testing.T) {
	const opsID = "0f6a8c2e-1d3b-4e5f-8a9b-0c1d2e3f4a5b"
	tests := []struct {
		role string
		opts MappingOptions
		want string
	}{
		{"DataFactoryContributor", MappingOptions{}, roleDFC},
		{"Data Factory Contributor", MappingOptions{}, roleDFC},
		{"datafactorycontributor", MappingOptions{}, roleDFC},
		{"Reader", MappingOptions{}, roleRdr},
		{"READER", MappingOptions{}, roleRdr},
		{"PipelineOperator", MappingOptions{OperatorRoleID: opsID}, opsID},
		{"Data Factory Pipeline Operator", MappingOptions{OperatorRoleID: opsID}, opsID},
		{"pipelineoperator", MappingOptions{OperatorRoleID: strings.ToUpper(opsID)}, opsID},
		// Without the setting: the GUID Bicep gives the role when deployed
		// into the factory's subscription with the default name.
		{"PipelineOperator", MappingOptions{}, OperatorRoleGUID(sub)},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			m, err := tt.opts.Parse([]byte(`{"bindings":[{"group":"G","role":"` + tt.role + `","factories":["` + factoryA + `"]}]}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Bindings[0].RoleID; got != tt.want {
				t.Errorf("role %q resolved to %s, want %s", tt.role, got, tt.want)
			}
		})
	}
	_, err := ParseMapping([]byte(`{"bindings":[{"group":"G","role":"Owner","factories":["` + factoryA + `"]}]}`))
	for _, name := range []string{"DataFactoryContributor", "Reader", "PipelineOperator", "a role definition GUID or resource id"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("unknown role error %v does not list %s", err, name)
		}
	}
}

// TestOperatorRoleGUIDIsBicepsGUID: the GUID derived for PipelineOperator is
// what infra/main.bicep's guid(subscription().id, 'adfscim',
// operatorRoleName) gives. ARM's guid() is a version 5 UUID over the
// '-'-joined arguments in the namespace 11fb06fb-712d-4ddd-98c7-e71bbd588830;
// the expected values were computed independently (Python's uuid.uuid5).
func TestOperatorRoleGUIDIsBicepsGUID(t *testing.T) {
	if got, want := OperatorRoleGUID(sub), "eb76e04b-e426-5215-ad1e-44c9a9298565"; got != want {
		t.Errorf("OperatorRoleGUID(%s) = %s, want %s", sub, got, want)
	}
	if got, want := OperatorRoleGUID("00000000-0000-0000-0000-000000000001"), "4edfbeb7-cf9c-59c4-b929-ecae8933d1a3"; got != want {
		t.Errorf("OperatorRoleGUID = %s, want %s", got, want)
	}
	if got, want := ARMGUID("a"), "3703365d-5a9f-59b4-bca7-b9681389e4c1"; got != want {
		t.Errorf(`ARMGUID("a") = %s, want %s`, got, want)
	}
	b, err := os.ReadFile("../../infra/main.bicep")
	if err != nil {
		t.Fatal(err)
	}
	bicep := string(b)
	for _, want := range []string{
		"var operatorRoleGuid = guid(subscription().id, 'adfscim', operatorRoleName)",
		"param operatorRoleName string = '" + DefaultOperatorRoleName + "'",
		"PipelineOperator: operatorRoleGuid",
		"ADFSCIM_OPERATOR_ROLE_ID: operatorRoleGuid",
	} {
		if !strings.Contains(bicep, want) {
			t.Errorf("infra/main.bicep no longer says %q: OperatorRoleGUID and the setting must follow it", want)
		}
	}
}

// TestOperatorRoleAcrossSubscriptions: without ADFSCIM_OPERATOR_ROLE_ID a
// binding whose factories span subscriptions cannot know the role's GUID and
// says so.
func TestOperatorRoleAcrossSubscriptions(t *testing.T) {
	other := "/subscriptions/99999999-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.DataFactory/factories/adf-z"
	_, err := ParseMapping([]byte(`{"bindings":[{"group":"G","role":"PipelineOperator","factories":["` + factoryA + `","` + other + `"]}]}`))
	if err == nil || !strings.Contains(err.Error(), "ADFSCIM_OPERATOR_ROLE_ID") {
		t.Errorf("err = %v, want one naming ADFSCIM_OPERATOR_ROLE_ID", err)
	}
}
