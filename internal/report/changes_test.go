package report

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/audit"
)

// TestChangesReadAsChanges: the operations identity providers send read as
// what they changed, with the value before when the trail knows it.
func TestChangesReadAsChanges(t *testing.T) {
	type step struct {
		action, body string
		failed       bool
		want         []string
	}
	patch := func(ops string) string { return `{"Operations":` + ops + `}` }
	long := strings.Repeat("Data Factory operators of the finance department ", 4)
	tests := []struct {
		name  string
		steps []step
	}{
		{"Entra ID deactivates and reactivates", []step{
			{"user.create", `{"userName":"ann@contoso.com","active":true,"password":"[redacted]"}`, false,
				[]string{"active: true", "password set (not recorded)", "userName: ann@contoso.com"}},
			{"user.patch", patch(`[{"op":"Replace","path":"active","value":"False"}]`), false, []string{"active: true → false (deactivated)"}},
			{"user.patch", patch(`[{"op":"Replace","path":"active","value":"True"}]`), false, []string{"active: false → true (reactivated)"}},
			{"user.patch", patch(`[{"op":"Replace","path":"active","value":"True"}]`), false, []string{"active: true (unchanged)"}},
		}},
		{"Okta sends attributes without a path", []step{
			{"user.create", `{"userName":"bo@contoso.com","active":true,"name":{"givenName":"Bo","familyName":"Li"}}`, false,
				[]string{"active: true", "name.familyName: Li", "name.givenName: Bo", "userName: bo@contoso.com"}},
			{"user.patch", patch(`[{"op":"replace","value":{"active":false,"name":{"givenName":"Bob"}}}]`), false,
				[]string{"active: true → false (deactivated)", "name.givenName: Bo → Bob"}},
			{"user.replace", `{"userName":"bo@contoso.com","active":true}`, false,
				[]string{"active: false → true (reactivated)", "userName: bo@contoso.com (unchanged)"}},
		}},
		{"a value not seen before, a failed change, a removal", []step{
			{"user.patch", patch(`[{"op":"Replace","path":"active","value":"False"}]`), false, []string{"active: false (deactivated)"}},
			{"user.patch", patch(`[{"op":"replace","path":"displayName","value":"Cy"}]`), true, []string{"displayName: Cy"}},
			{"user.patch", patch(`[{"op":"replace","path":"displayName","value":"Cyd"}]`), false, []string{"displayName: Cyd"}},
			{"user.patch", patch(`[{"op":"remove","path":"displayName"}]`), false, []string{"displayName: Cyd → (removed)"}},
			{"user.patch", patch(`[{"op":"add","path":"emails","value":[{"value":"cy@contoso.com","type":"work","primary":true}]}]`), false,
				[]string{"emails: cy@contoso.com (work, primary)"}},
		}},
		{"group memberships", []step{
			{"group.create", `{"displayName":"ADF Readers","members":[{"value":"u1"},{"value":"u2"}]}`, false,
				[]string{"displayName: ADF Readers", "members: <u1>, <u2>"}},
			{"group.patch", patch(`[{"op":"Add","path":"members","value":[{"value":"u3"}]}]`), false, []string{"added <u3>"}},
			{"group.patch", patch(`[{"op":"Remove","path":"members[value eq \"u1\"]"}]`), false, []string{"removed <u1>"}},
			{"group.patch", patch(`[{"op":"remove","path":"members","value":[{"value":"u2"}]}]`), false, []string{"removed <u2>"}},
			{"group.patch", patch(`[{"op":"replace","path":"members","value":[{"value":"u4"}]}]`), false, []string{"members now: <u4>"}},
			{"group.patch", patch(`[{"op":"remove","path":"members"}]`), false, []string{"removed every member"}},
			{"group.patch", patch(`[{"op":"replace","path":"displayName","value":"` + long + `"}]`), false,
				[]string{"displayName: ADF Readers → Data Factory operators of the finance department Data Factory operators of the finance department Data Factory …"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			known := values{}
			for i, s := range tc.steps {
				var (
					cs  []audit.Change
					err error
				)
				if strings.HasSuffix(s.action, ".patch") {
					var body struct{ Operations json.RawMessage }
					if err := json.Unmarshal([]byte(s.body), &body); err != nil {
						t.Fatal(err)
					}
					cs, err = audit.ChangesFromPatch(body.Operations)
				} else {
					cs, err = audit.ChangesFromResource(json.RawMessage(s.body))
				}
				if err != nil {
					t.Fatal(err)
				}
				typ := "User"
				if strings.HasPrefix(s.action, "group.") {
					typ = "Group"
				}
				got := known.phrase(audit.Record{Action: s.action, Target: audit.Target{Type: typ, ID: "x"}, Changes: cs,
					Outcome: audit.Outcome{Success: !s.failed}})
				for j, l := range got {
					for strings.Contains(l, memberRef) {
						k := strings.Index(l, memberRef)
						id, rest, _ := strings.Cut(l[k+len(memberRef):], "\x00")
						l = l[:k] + "<" + id + ">" + rest
					}
					got[j] = l
				}
				if strings.Join(got, "|") != strings.Join(s.want, "|") {
					t.Errorf("step %d %s %s reads\n %q\nwant\n %q", i, s.action, s.body, got, s.want)
				}
			}
		})
	}
}

// TestManyChangesSayHowManyMore: a record with more changes than a cell
// shows says how many it leaves out.
func TestManyChangesSayHowManyMore(t *testing.T) {
	var cs []audit.Change
	for _, a := range strings.Fields("a b c d e f g h i j k l m n o") {
		cs = append(cs, audit.Change{Op: "set", Path: a, Value: a})
	}
	got := values{}.phrase(audit.Record{Action: "user.create", Target: audit.Target{Type: "User", ID: "x"}, Changes: cs, Outcome: audit.Outcome{Success: true}})
	if len(got) != maxChangeLines || got[len(got)-1] != "and 4 more changes (adfscim audit export shows them all)" {
		t.Errorf("15 changes read %q", got)
	}
}
