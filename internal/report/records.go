package report

import (
	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/rbac"
)

// AuditRecords turns what the reconciler did into audit records: one per
// assignment created or deleted (rbac.assign, rbac.unassign) and one per
// drift finding. The report reads these records back to date each
// assignment, so writer and reader of their shape live together here.
func AuditRecords(rep rbac.Report) []audit.Record {
	var recs []audit.Record
	target := func(a rbac.Assignment) audit.Target {
		id := a.Scope + "/providers/Microsoft.Authorization/roleAssignments/" + a.Name
		return audit.Target{Type: "RoleAssignment", ID: id, Display: string(a.PrincipalType) + " " + a.PrincipalID + " role " + a.RoleID}
	}
	changes := func(a rbac.Assignment) []audit.Change {
		return []audit.Change{
			{Op: "set", Path: "scope", Value: a.Scope},
			{Op: "set", Path: "principalId", Value: a.PrincipalID},
			{Op: "set", Path: "roleDefinitionId", Value: a.RoleID},
			{Op: "set", Path: "scimSubject", Value: a.Subject},
		}
	}
	for _, res := range rep.Results {
		action := audit.ActionRBACAssign
		if res.Op == rbac.OpDelete {
			action = audit.ActionRBACUnassign
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
	return recs
}
