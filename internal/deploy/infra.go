package deploy

import (
	"fmt"
	"strings"
)

// Tables returns the Table Storage tables the service keeps its state in;
// infra/main.bicep creates exactly these.
func Tables() []string {
	return []string{"scim", "rbac", "audit", "tokens"}
}

// RBACAdministratorRoleID is the built-in Role Based Access Control
// Administrator role the service's identity holds on each factory, limited
// by DelegationCondition.
const RBACAdministratorRoleID = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"

// DelegationCondition returns the ABAC condition (version 2.0) that
// infra/modules/factory-rbac.bicep puts on the service's Role Based Access
// Control Administrator assignment on a factory: role assignments may be
// written and deleted only for the given role definition GUIDs and only for
// User and Group principals. It is the same text the template renders, in a
// canonical single-line form, so a check at run time (or a test) can compare
// what Azure holds with what the mapping needs.
func DelegationCondition(roleIDs []string) string {
	ids := strings.Join(roleIDs, ", ")
	clause := func(action, source string) string {
		return fmt.Sprintf("( ( !(ActionMatches{'Microsoft.Authorization/roleAssignments/%s'}) ) OR ( "+
			"@%s[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {%s} AND "+
			"@%s[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {'User', 'Group'} ) )",
			action, source, ids, source)
	}
	return clause("write", "Request") + " AND " + clause("delete", "Resource")
}

// NormalizeCondition collapses every run of white space in an ABAC condition
// to one space and trims it, so conditions that differ only in layout
// compare equal.
func NormalizeCondition(c string) string {
	return strings.Join(strings.Fields(c), " ")
}
