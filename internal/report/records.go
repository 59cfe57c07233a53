package report

import (
	"fmt"
	"time"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/rbac"
)

// AuditRecords turns what the reconciler did into audit records: one per
// assignment or schedule created or deleted (rbac.assign, rbac.unassign),
// one per schedule renewed (rbac.renew), one per schedule adfscim made that
// ended by itself at its end time (rbac.expired), one per drift finding,
// and one per subscription whose role assignment budget held creates back
// (rbac.budget). The report reads these records back to date each
// assignment, so writer and reader of their shape live together here.
func AuditRecords(rep rbac.Report) []audit.Record {
	var recs []audit.Record
	target := func(a rbac.Assignment) audit.Target {
		display := string(a.PrincipalType) + " " + a.PrincipalID + " role " + a.RoleID
		switch a.Kind {
		case rbac.GrantEligible:
			return audit.Target{Type: "RoleEligibilitySchedule", ID: scheduleTargetID(a, "roleEligibilitySchedules"), Display: display + " (" + rbac.KindText(a) + ")"}
		case rbac.GrantTimeBound:
			return audit.Target{Type: "RoleAssignmentSchedule", ID: scheduleTargetID(a, "roleAssignmentSchedules"), Display: display + " (" + rbac.KindText(a) + ")"}
		}
		id := a.Scope + "/providers/Microsoft.Authorization/roleAssignments/" + a.Name
		return audit.Target{Type: "RoleAssignment", ID: id, Display: display}
	}
	changes := func(a rbac.Assignment) []audit.Change {
		cs := []audit.Change{
			{Op: "set", Path: "scope", Value: a.Scope},
			{Op: "set", Path: "principalId", Value: a.PrincipalID},
			{Op: "set", Path: "roleDefinitionId", Value: a.RoleID},
			{Op: "set", Path: "scimSubject", Value: a.Subject},
		}
		if a.Kind.Scheduled() {
			cs = append(cs, audit.Change{Op: "set", Path: "kind", Value: string(a.Kind)})
			end := "none"
			if !a.EndsAt.IsZero() {
				end = a.EndsAt.UTC().Format(time.RFC3339)
			}
			cs = append(cs, audit.Change{Op: "set", Path: "endsAt", Value: end})
			if a.Activation != nil {
				cs = append(cs, audit.Change{Op: "remove", Path: "activation", Value: a.Activation.ScheduleID})
			}
		}
		return cs
	}
	// Expiries first: they happened before the run that found them made
	// anything again.
	for _, a := range rep.Expired {
		recs = append(recs, audit.Record{
			Actor: "reconciler", Action: audit.ActionRBACExpired, Target: target(a), Changes: changes(a),
			Outcome: audit.Outcome{Success: true, Detail: "ended by itself at its end time " + a.EndsAt.UTC().Format(time.RFC3339) +
				"; ARM no longer lists it (no request by adfscim)"},
		})
	}
	for _, res := range rep.Results {
		action := audit.ActionRBACAssign
		switch res.Op {
		case rbac.OpDelete:
			action = audit.ActionRBACUnassign
		case rbac.OpRenew:
			action = audit.ActionRBACRenew
		}
		recs = append(recs, audit.Record{
			Actor: "reconciler", Action: action, Target: target(res.Assignment), Changes: changes(res.Assignment),
			Outcome: audit.Outcome{Success: res.Error == "", Status: res.Status, Detail: res.Error},
		})
	}
	for _, d := range rep.Plan.Drift {
		recs = append(recs, audit.Record{
			Actor: "reconciler", Action: audit.ActionRBACDrift, Target: target(d.Assignment), Changes: changes(d.Assignment),
			Outcome: audit.Outcome{Success: true, Detail: "an assignment of a mapped role on a mapped factory that adfscim did not make; left alone"},
		})
	}
	for _, b := range rep.Plan.Budget {
		if !b.Over() {
			continue
		}
		recs = append(recs, audit.Record{
			Actor: "reconciler", Action: audit.ActionRBACBudget,
			Target: audit.Target{Type: "Subscription", ID: "/subscriptions/" + b.Subscription, Display: "role assignment budget"},
			Changes: []audit.Change{
				{Op: "set", Path: "existing", Value: fmt.Sprint(b.Existing)},
				{Op: "set", Path: "line", Value: fmt.Sprint(b.Line)},
				{Op: "set", Path: "planned", Value: fmt.Sprint(b.Planned)},
				{Op: "set", Path: "held", Value: fmt.Sprint(b.Held)},
			},
			Outcome: audit.Outcome{Success: false, Detail: b.String() + ": use group mode or eligible bindings (docs/runbook.md)"},
		})
	}
	return recs
}

// scheduleTargetID names a schedule for the trail with the deterministic
// name of its (scope, principal, role), so that its creation, renewals and
// removal share one target: the schedule's own id is ARM's choice.
func scheduleTargetID(a rbac.Assignment, coll string) string {
	return a.Scope + "/providers/Microsoft.Authorization/" + coll + "/" + rbac.AssignmentName(a.Scope, a.PrincipalID, a.RoleID)
}
