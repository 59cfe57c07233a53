package rbac_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	. "github.com/adfscim/adfscim/internal/rbac"
)

func pid(n int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", n) }

func mustMapping(t testing.TB, js string) *Mapping {
	t.Helper()
	m, err := ParseMapping([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// baseMapping: Analysts -> DFC on A and B (per user); Ops (by externalId) ->
// custom Operator role on A; Readers -> Reader on C in group mode.
func baseMapping(t testing.TB) *Mapping {
	return mustMapping(t, `{"factories":{"a":"`+factoryA+`","b":"`+factoryB+`","c":"`+factoryC+`"},"bindings":[
		{"group":"Analysts","role":"Data Factory Contributor","factories":["a","b"]},
		{"groupExternalId":"ops-ext","role":"`+roleOps+`","factories":["a"]},
		{"group":"Readers","role":"Reader","factories":["c"],"mode":"group"}]}`)
}

func baseState() State {
	return State{
		Groups: []Group{
			{ID: "g1", DisplayName: "Analysts"},
			{ID: "g2", DisplayName: "Operations", ExternalID: "ops-ext"},
			{ID: "g3", DisplayName: "Readers", ExternalID: pid(900)},
			{ID: "g4", DisplayName: "Unmapped"},
		},
		Members: map[string][]string{"g1": {"u1", "u2"}, "g2": {"u2"}, "g3": {"u1", "u3"}, "g4": {"u3"}},
		Users: map[string]User{
			"u1": {ID: "u1", Active: true}, "u2": {ID: "u2", Active: true}, "u3": {ID: "u3", Active: true},
		},
		Principals: map[string]string{"u1": pid(1), "u2": pid(2), "u3": pid(3)},
	}
}

func clone(st State) State {
	out := State{Members: map[string][]string{}, Users: map[string]User{}, Principals: map[string]string{}}
	out.Groups = slices.Clone(st.Groups)
	for k, v := range st.Members {
		out.Members[k] = slices.Clone(v)
	}
	for k, v := range st.Users {
		out.Users[k] = v
	}
	for k, v := range st.Principals {
		out.Principals[k] = v
	}
	return out
}

// short renders an assignment as "factory/principal#/role" for readable
// expectations.
func short(a Assignment) string {
	f := a.Scope[strings.LastIndex(a.Scope, "/")+1:]
	p := strings.TrimLeft(a.PrincipalID[strings.LastIndex(a.PrincipalID, "-")+1:], "0")
	r := map[string]string{roleDFC: "dfc", roleRdr: "reader", roleOps: "ops"}[a.RoleID]
	return f + "/" + p + "/" + r
}

func shorts(as []Assignment) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, short(a))
	}
	sort.Strings(out)
	return out
}

func foreign(scope, principal, role string) Assignment {
	return Assignment{Scope: NormScope(scope), PrincipalID: principal, RoleID: role, PrincipalType: PrincipalUser,
		Name: "deadbeef-0000-4000-8000-" + principal[len(principal)-12:], Description: "made by hand"}
}

func TestPlan(t *testing.T) {
	base := baseState()
	baseDesired, _ := Desired(baseMapping(t), base)
	if got := shorts(baseDesired); !slices.Equal(got, []string{"adf-a/1/dfc", "adf-a/2/dfc", "adf-a/2/ops", "adf-b/1/dfc", "adf-b/2/dfc", "adf-c/900/reader"}) {
		t.Fatalf("base desired = %v", got)
	}
	tests := []struct {
		name    string
		mapping string // empty: baseMapping
		change  func(*State)
		extra   []Assignment // actual assignments besides the owned base ones
		creates []string
		deletes []string
		drift   []string
		covers  []bool
		probs   int
	}{
		{name: "no change"},
		{name: "join", change: func(s *State) { s.Members["g1"] = append(s.Members["g1"], "u3") },
			creates: []string{"adf-a/3/dfc", "adf-b/3/dfc"}},
		{name: "leave", change: func(s *State) { s.Members["g1"] = []string{"u1"} },
			deletes: []string{"adf-a/2/dfc", "adf-b/2/dfc"}},
		{name: "deactivate keeps memberships but revokes", change: func(s *State) { s.Users["u2"] = User{ID: "u2", Active: false} },
			deletes: []string{"adf-a/2/dfc", "adf-a/2/ops", "adf-b/2/dfc"}},
		{name: "delete user", change: func(s *State) { delete(s.Users, "u1"); delete(s.Principals, "u1"); s.Members["g1"] = []string{"u2"} },
			deletes: []string{"adf-a/1/dfc", "adf-b/1/dfc"}},
		{name: "rename group out of the mapping", change: func(s *State) { s.Groups[0].DisplayName = "Former Analysts" },
			deletes: []string{"adf-a/1/dfc", "adf-a/2/dfc", "adf-b/1/dfc", "adf-b/2/dfc"}},
		{name: "rename keeps binding by externalId", change: func(s *State) { s.Groups[1].DisplayName = "Ops renamed" }},
		{name: "rename into the mapping", change: func(s *State) { s.Groups[3].DisplayName = "analysts" },
			creates: []string{"adf-a/3/dfc", "adf-b/3/dfc"}},
		{name: "unresolved user gets nothing", change: func(s *State) { delete(s.Principals, "u1") },
			deletes: []string{"adf-a/1/dfc", "adf-b/1/dfc"}},
		{name: "mapping change: role and factories",
			mapping: `{"factories":{"a":"` + factoryA + `","c":"` + factoryC + `"},"bindings":[
				{"group":"Analysts","role":"Reader","factories":["a"]},
				{"groupExternalId":"ops-ext","role":"` + roleOps + `","factories":["a"]},
				{"group":"Readers","role":"Reader","factories":["c"],"mode":"group"}]}`,
			creates: []string{"adf-a/1/reader", "adf-a/2/reader"},
			deletes: []string{"adf-a/1/dfc", "adf-a/2/dfc"}}, // adf-b is no longer mapped: not listed, not touched
		{name: "foreign assignments are drift, never deleted",
			extra: []Assignment{
				foreign(factoryA, pid(7), roleDFC),                                                                                  // shadow access
				foreign(factoryA, pid(8), "b24988ac-6180-42a0-ab88-20f7382dd24c"),                                                   // unmapped role: ignored
				foreign("/subscriptions/"+sub+"/resourceGroups/other/providers/Microsoft.DataFactory/factories/x", pid(9), roleDFC), // unmapped factory: ignored
			},
			drift: []string{"adf-a/7/dfc"}, covers: []bool{false}},
		{name: "foreign assignment covering a desired one",
			change:  func(s *State) { s.Members["g1"] = append(s.Members["g1"], "u3") },
			extra:   []Assignment{foreign(factoryA, pid(3), roleDFC)},
			creates: []string{"adf-b/3/dfc"}, drift: []string{"adf-a/3/dfc"}, covers: []bool{true}},
		{name: "deterministic name without the marker is not ours",
			change: func(s *State) { s.Members["g1"] = []string{"u1", "u2"} },
			extra: func() []Assignment {
				a := DesiredAssignment(factoryB, pid(5), PrincipalUser, roleDFC, "")
				a.Description = "copied by someone"
				return []Assignment{a}
			}(),
			drift: []string{"adf-b/5/dfc"}, covers: []bool{false}},
		{name: "group mode follows the group's object id", change: func(s *State) { s.Groups[2].ExternalID = pid(901) },
			creates: []string{"adf-c/901/reader"}, deletes: []string{"adf-c/900/reader"}},
		{name: "group mode without an object id is a problem", change: func(s *State) { s.Groups[2].ExternalID = "readers" },
			deletes: []string{"adf-c/900/reader"}, probs: 1},
		{name: "group mode ignores membership", change: func(s *State) { s.Members["g3"] = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := baseMapping(t)
			if tt.mapping != "" {
				m = mustMapping(t, tt.mapping)
			}
			st := clone(base)
			if tt.change != nil {
				tt.change(&st)
			}
			desired, probs := Desired(m, st)
			actual := append(slices.Clone(baseDesired), tt.extra...)
			p := Diff(m, desired, actual, nil)
			if got := shorts(p.Creates); !slices.Equal(got, nonNil(tt.creates)) {
				t.Errorf("creates = %v, want %v", got, tt.creates)
			}
			if got := shorts(p.Deletes); !slices.Equal(got, nonNil(tt.deletes)) {
				t.Errorf("deletes = %v, want %v", got, tt.deletes)
			}
			var drift []string
			var covers []bool
			for _, d := range p.Drift {
				drift = append(drift, short(d.Assignment))
				covers = append(covers, d.CoversDesired)
			}
			if !slices.Equal(nonNil(drift), nonNil(tt.drift)) || !slices.Equal(covers, tt.covers) {
				t.Errorf("drift = %v %v, want %v %v", drift, covers, tt.drift, tt.covers)
			}
			for _, d := range p.Deletes {
				if !d.Owned() {
					t.Errorf("plan deletes %s, which adfscim does not own", short(d))
				}
			}
			if len(probs) != tt.probs {
				t.Errorf("problems = %v, want %d", probs, tt.probs)
			}
			// Applying the plan must converge: desired == owned actual after.
			after := applyPlan(actual, p)
			if again := Diff(m, desired, after, nil); !again.Empty() {
				t.Errorf("plan does not converge: second plan %v / %v", shorts(again.Creates), shorts(again.Deletes))
			}
		})
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func applyPlan(actual []Assignment, p Plan) []Assignment {
	gone := map[string]bool{}
	for _, d := range p.Deletes {
		gone[d.Name] = true
	}
	var out []Assignment
	for _, a := range actual {
		if !gone[a.Name] {
			out = append(out, a)
		}
	}
	return append(out, p.Creates...)
}

func TestDiffTargeted(t *testing.T) {
	m := baseMapping(t)
	st := clone(baseState())
	desired, _ := Desired(m, st)
	// u2 leaves Analysts; u1 too, but the plan is targeted at u2 only.
	st.Members["g1"] = nil
	after, _ := Desired(m, st)
	p := Diff(m, after, desired, map[string]bool{pid(2): true})
	if got := shorts(p.Deletes); !slices.Equal(got, []string{"adf-a/2/dfc", "adf-b/2/dfc"}) {
		t.Errorf("targeted deletes = %v", got)
	}
	if len(p.Creates) != 0 {
		t.Errorf("targeted creates = %v", shorts(p.Creates))
	}
}

func TestAssignmentNameIsStable(t *testing.T) {
	a := AssignmentName(factoryA, pid(1), roleDFC)
	b := AssignmentName(strings.ToUpper(strings.TrimPrefix(factoryA, "/")), strings.ToUpper(pid(1)), strings.ToUpper(roleDFC))
	if a != b {
		t.Errorf("name depends on case or leading slash: %s vs %s", a, b)
	}
	if a == AssignmentName(factoryB, pid(1), roleDFC) || a == AssignmentName(factoryA, pid(2), roleDFC) || a == AssignmentName(factoryA, pid(1), roleRdr) {
		t.Error("distinct assignments share a name")
	}
	if !IsGUID(a) {
		t.Errorf("name %q is not a GUID", a)
	}
}
