package report

import (
	"strings"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/rbac"
)

// TestAuditRecordsOfSchedulesAndBudget: a schedule created, renewed and
// removed is a record each, on one schedule target that says its kind and
// end; a budget that held creates back is an rbac.budget record.
func TestAuditRecordsOfSchedulesAndBudget(t *testing.T) {
	scope := "/subscriptions/11111111-2222-3333-4444-555555555555/resourcegroups/rg/providers/microsoft.datafactory/factories/adf"
	end := time.Date(2027, 1, 31, 12, 0, 0, 0, time.UTC)
	elig := rbac.Assignment{Scope: scope, PrincipalID: "00000000-0000-0000-0000-000000000001", PrincipalType: rbac.PrincipalUser,
		RoleID: "673868aa-7521-48a0-acc6-0f60742d39f5", Kind: rbac.GrantEligible, EndsAt: end}
	tb := elig
	tb.Kind = rbac.GrantTimeBound
	rep := rbac.Report{
		Results: []rbac.Result{{Op: rbac.OpCreate, Assignment: elig}, {Op: rbac.OpRenew, Assignment: tb}, {Op: rbac.OpDelete, Assignment: elig}},
		Plan: rbac.Plan{Budget: []rbac.BudgetLine{
			{Subscription: "11111111-2222-3333-4444-555555555555", Line: 4500, Existing: 4490, Planned: 10, Held: 90},
			{Subscription: "99999999-2222-3333-4444-555555555555", Line: 4500, Existing: 10, Planned: 3},
		}},
	}
	recs := AuditRecords(rep)
	want := []struct{ action, typ string }{
		{audit.ActionRBACAssign, "RoleEligibilitySchedule"},
		{audit.ActionRBACRenew, "RoleAssignmentSchedule"},
		{audit.ActionRBACUnassign, "RoleEligibilitySchedule"},
		{audit.ActionRBACBudget, "Subscription"},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(recs), len(want), recs)
	}
	for i, w := range want {
		if recs[i].Action != w.action || recs[i].Target.Type != w.typ {
			t.Errorf("record %d: %s on %s, want %s on %s", i, recs[i].Action, recs[i].Target.Type, w.action, w.typ)
		}
	}
	if recs[0].Target.ID != recs[2].Target.ID {
		t.Errorf("the eligibility's creation and removal name different targets: %s, %s", recs[0].Target.ID, recs[2].Target.ID)
	}
	if !strings.Contains(recs[0].Target.Display, "eligible until 2027-01-31 12:00Z") {
		t.Errorf("target display %q does not say the kind and end", recs[0].Target.Display)
	}
	b := recs[3]
	if b.Outcome.Success || !strings.Contains(b.Outcome.Detail, "4490 of 5000") || !strings.Contains(b.Outcome.Detail, "90 held back") {
		t.Errorf("budget record %+v", b.Outcome)
	}
}

// TestAuditRecordOfExpiry: a schedule that ended by itself is one
// rbac.expired record, before the run's changes, on the schedule's target,
// with its scope, principal, role, kind and end.
func TestAuditRecordOfExpiry(t *testing.T) {
	scope := "/subscriptions/11111111-2222-3333-4444-555555555555/resourcegroups/rg/providers/microsoft.datafactory/factories/adf"
	end := time.Date(2027, 1, 31, 12, 0, 0, 0, time.UTC)
	tb := rbac.Assignment{Scope: scope, PrincipalID: "00000000-0000-0000-0000-000000000001", PrincipalType: rbac.PrincipalUser,
		RoleID: "acdd72a7-3385-48ef-bd42-f606fba81ae7", Kind: rbac.GrantTimeBound, EndsAt: end, Subject: "u1"}
	again := tb
	again.EndsAt = end.Add(720 * time.Hour)
	recs := AuditRecords(rbac.Report{Expired: []rbac.Assignment{tb}, Results: []rbac.Result{{Op: rbac.OpCreate, Assignment: again}}})
	if len(recs) != 2 || recs[0].Action != audit.ActionRBACExpired || recs[1].Action != audit.ActionRBACAssign {
		t.Fatalf("records %+v, want rbac.expired then rbac.assign", recs)
	}
	x := recs[0]
	if x.Target.Type != "RoleAssignmentSchedule" || x.Target.ID != recs[1].Target.ID || !x.Outcome.Success || x.Actor != "reconciler" {
		t.Errorf("expiry record %+v", x)
	}
	got := map[string]any{}
	for _, c := range x.Changes {
		got[c.Path] = c.Value
	}
	for path, want := range map[string]string{"scope": scope, "principalId": tb.PrincipalID, "roleDefinitionId": tb.RoleID,
		"scimSubject": "u1", "kind": "timeBound", "endsAt": "2027-01-31T12:00:00Z"} {
		if got[path] != want {
			t.Errorf("change %s = %v, want %s", path, got[path], want)
		}
	}
}
