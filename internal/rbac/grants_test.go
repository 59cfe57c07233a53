package rbac_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/directory"
	. "github.com/adfscim/adfscim/internal/rbac"
)

const (
	gSub = "11111111-2222-4333-8444-555555555555"
	gOne = "/subscriptions/" + gSub + "/resourceGroups/rg/providers/Microsoft.DataFactory/factories/adf-prod"
	gTwo = "/subscriptions/" + gSub + "/resourceGroups/rg/providers/Microsoft.DataFactory/factories/adf-dev"
)

func grantsMapping(t *testing.T) *Mapping {
	t.Helper()
	m, err := ParseMapping([]byte(`{"factories":{"prod":"` + gOne + `"},
	  "bindings":[{"group":"Analysts","role":"Reader","factories":["prod"]}],
	  "grants":[{"factories":["prod","` + gTwo + `"],"roles":["Data Factory Contributor","PipelineOperator"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestGrantsMapping(t *testing.T) {
	m := grantsMapping(t)
	var names []string
	for _, g := range m.Grants {
		names = append(names, g.DisplayName)
		if g.ID != GrantID(g.Factory, g.RoleID) || !IsGUID(g.ID) {
			t.Errorf("%s: id %s is not the pair's", g.DisplayName, g.ID)
		}
	}
	want := []string{"adf-dev: Data Factory Contributor", "adf-dev: Data Factory Pipeline Operator",
		"adf-prod: Data Factory Contributor", "adf-prod: Data Factory Pipeline Operator"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("grants %q, want %q", names, want)
	}
	// The id depends on the pair only: spelling, case and the order of the
	// mapping do not change it, so every instance and restart agrees.
	again, err := ParseMapping([]byte(`{"grants":[{"factories":["` + strings.ToUpper(gTwo[:15]) + gTwo[15:] + `","` + gOne + `"],"roles":["pipelineoperator","673868aa-7521-48a0-acc6-0f60742d39f5"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range m.Grants {
		if h, ok := again.Grant(g.ID); !ok || h.Factory != g.Factory || h.RoleID != g.RoleID {
			t.Errorf("%s: id %s differs between mappings", g.DisplayName, g.ID)
		}
	}
	if GrantID(gOne, "673868aa-7521-48a0-acc6-0f60742d39f5") != "bc6fcb1d-232e-582a-aeb6-40b5f6e768a0" {
		t.Errorf("GrantID changed: %s (ids already given to identity providers would no longer match)", GrantID(gOne, "673868aa-7521-48a0-acc6-0f60742d39f5"))
	}
	if !m.MappedFactory(gTwo) || !m.MappedRole(OperatorRoleGUID(gSub)) {
		t.Errorf("a grant's factory and role are not mapped: the reconciler would not see their assignments")
	}
}

func TestGrantsMappingErrors(t *testing.T) {
	for _, c := range []struct{ grants, want string }{
		{`[{"factories":[],"roles":["Reader"]}]`, "grant 1: no factories"},
		{`[{"factories":["prod"],"roles":[]}]`, "grant 1: no roles"},
		{`[{"factories":["nowhere"],"roles":["Reader"]}]`, `grant 1: factory "nowhere" is neither`},
		{`[{"factories":["prod"],"roles":["Owner"]}]`, `grant 1: unknown role "Owner"`},
		{`[{"factories":["prod"],"roles":["Reader"]},{"factories":["` + gOne + `"],"roles":["reader"]}]`, "grant 2: adf-prod: Reader is granted twice"},
		{`[{"factory":["prod"]}]`, "unknown field"},
	} {
		_, err := ParseMapping([]byte(`{"factories":{"prod":"` + gOne + `"},"grants":` + c.grants + `}`))
		if err == nil || !errors.Is(err, ErrMapping) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.grants, err, c.want)
		}
	}
}

func TestCheckGrants(t *testing.T) {
	m := grantsMapping(t)
	g := m.Grants[0]
	h := m.Grants[1]
	entra := `{"id":"7d3e5a1b-9c2f-4e8d-a6b0-1f2e3d4c5b6a","value":"` + g.ID + `","displayName":"x"}`
	attrs := map[string]any{
		"entitlements": []any{map[string]any{"value": strings.ToUpper(g.ID)}, map[string]any{"value": g.ID, "display": "dup"}},
		"roles":        []any{map[string]any{"value": entra, "type": "WindowsAzureActiveDirectoryRole", "primary": false}, map[string]any{"value": h.ID}},
	}
	notes, err := m.CheckUser(nil, attrs)
	if err != nil {
		t.Fatal(err)
	}
	wantAttrs := map[string]any{
		"entitlements": []any{map[string]any{"value": g.ID, "display": g.DisplayName, "type": "Entitlement"}},
		"roles": []any{map[string]any{"value": g.ID, "display": g.DisplayName, "type": "WindowsAzureActiveDirectoryRole"},
			map[string]any{"value": h.ID, "display": h.DisplayName}},
	}
	if !reflect.DeepEqual(attrs, wantAttrs) {
		t.Errorf("canonical form\n%v\nwant\n%v", attrs, wantAttrs)
	}
	wantNotes := []directory.Note{
		{Op: "grant", Path: "entitlements", Value: g.DisplayName + " [" + g.ID + "]"},
		{Op: "grant", Path: "roles", Value: g.DisplayName + " [" + g.ID + "]"},
		{Op: "grant", Path: "roles", Value: h.DisplayName + " [" + h.ID + "]"},
	}
	if !reflect.DeepEqual(notes, wantNotes) {
		t.Errorf("notes %v, want %v", notes, wantNotes)
	}
	if got := UserGrants(attrs); !reflect.DeepEqual(got, sortedIDs(g.ID, h.ID)) {
		t.Errorf("UserGrants = %v", got)
	}
	// An unknown value is refused; one the user already held (a grant the
	// mapping dropped since) is kept and blocks nothing.
	if _, err := m.CheckUser(nil, map[string]any{"roles": []any{map[string]any{"value": "Admin"}}}); err == nil {
		t.Errorf("an unknown role was accepted")
	}
	old := map[string]any{"roles": []any{map[string]any{"value": "dropped"}}}
	kept := map[string]any{"roles": []any{map[string]any{"value": "dropped"}, map[string]any{"value": h.ID}}}
	notes, err = m.CheckUser(old, kept)
	if err != nil || len(notes) != 1 || notes[0].Value != h.DisplayName+" ["+h.ID+"]" {
		t.Errorf("held unknown value: %v %v", notes, err)
	}
	// Without grants in the mapping both attributes are stored as sent.
	plain, _ := ParseMapping([]byte(`{}`))
	free := map[string]any{"roles": []any{map[string]any{"value": "Admin"}}}
	if notes, err := plain.CheckUser(nil, free); err != nil || notes != nil {
		t.Errorf("without grants: %v %v", notes, err)
	}
}

func sortedIDs(ids ...string) []string {
	if ids[0] > ids[1] {
		ids[0], ids[1] = ids[1], ids[0]
	}
	return ids
}

// TestDesiredUnionOfBindingsAndGrants checks that a user's access is the
// union of group bindings and direct grants, that the plan says why, and
// that an inactive user keeps nothing of either.
func TestDesiredUnionOfBindingsAndGrants(t *testing.T) {
	m := grantsMapping(t)
	var prodContrib Grant
	for _, g := range m.Grants {
		if g.DisplayName == "adf-prod: Data Factory Contributor" {
			prodContrib = g
		}
	}
	reader, _ := ParseMapping([]byte(`{"grants":[{"factories":["` + gOne + `"],"roles":["Reader"]}]}`))
	readerGrant := reader.Grants[0] // not in m: grants nothing
	p := "0a0a0a0a-0000-4000-8000-000000000001"
	st := State{
		Groups:     []Group{{ID: "g1", DisplayName: "Analysts"}},
		Members:    map[string][]string{"g1": {"u1"}},
		Users:      map[string]User{"u1": {ID: "u1", Active: true, Grants: []string{prodContrib.ID, readerGrant.ID}}},
		Principals: map[string]string{"u1": p},
	}
	desired, _ := Desired(m, st)
	plan := Diff(m, desired, nil, nil)
	got := map[string]string{}
	for _, a := range plan.Creates {
		got[RoleDisplay("", a.RoleID)] = a.Reason
	}
	want := map[string]string{
		"Reader":                   "group Analysts",
		"Data Factory Contributor": "direct grant adf-prod: Data Factory Contributor",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plan creates %v, want %v", got, want)
	}
	// The same assignment wanted by a group and a grant is made once, for
	// both reasons.
	m2, _ := ParseMapping([]byte(`{"bindings":[{"group":"Analysts","role":"Reader","factories":["` + gOne + `"]}],"grants":[{"factories":["` + gOne + `"],"roles":["Reader"]}]}`))
	st.Users["u1"] = User{ID: "u1", Active: true, Grants: []string{readerGrant.ID}}
	desired, _ = Desired(m2, st)
	plan = Diff(m2, desired, nil, nil)
	if len(plan.Creates) != 1 || plan.Creates[0].Reason != "group Analysts; direct grant adf-prod: Reader" {
		t.Errorf("plan %+v, want one create for both reasons", plan.Creates)
	}
	st.Users["u1"] = User{ID: "u1", Active: false, Grants: []string{readerGrant.ID}}
	if desired, _ = Desired(m2, st); len(desired) != 0 {
		t.Errorf("an inactive user is still granted %v", desired)
	}
}

func TestAccessRefsOnGrants(t *testing.T) {
	for _, c := range []struct {
		ch   directory.Change
		want int
	}{
		{directory.Change{Type: directory.User, ID: "u", Action: directory.ActionCreate, Changed: []string{"userName", "entitlements"}}, 1},
		{directory.Change{Type: directory.User, ID: "u", Action: directory.ActionCreate, Changed: []string{"userName", "roles"}}, 1},
		{directory.Change{Type: directory.User, ID: "u", Action: directory.ActionCreate, Changed: []string{"userName"}}, 0},
		{directory.Change{Type: directory.User, ID: "u", Action: directory.ActionPatch, Changed: []string{"entitlements"}}, 1},
		{directory.Change{Type: directory.User, ID: "u", Action: directory.ActionReplace, Changed: []string{"roles"}}, 1},
		{directory.Change{Type: directory.User, ID: "u", Action: directory.ActionPatch, Changed: []string{"displayName"}}, 0},
	} {
		if got := ChangeRefs(&c.ch, ""); len(got) != c.want {
			t.Errorf("%+v: %v, want %d refs", c.ch, got, c.want)
		}
	}
}
