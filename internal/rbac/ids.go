package rbac

// NormScope is a scope as rbac compares it: lower case, with a leading '/'
// and no trailing one. ARM clients normalise what they list with it.
func NormScope(scope string) string { return normScope(scope) }

// RoleGUID is the GUID of a role definition resource id (or of a bare
// GUID), lower case; "" when id holds none.
func RoleGUID(id string) string { return roleGUID(id) }

// RoleDefinitionID is the role definition resource id ARM wants in a role
// assignment or schedule request for role at scope.
func RoleDefinitionID(scope, role string) string { return roleDefinitionResourceID(scope, role) }
