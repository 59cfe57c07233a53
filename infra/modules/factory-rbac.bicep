// On one Data Factory, lets the service's identity create and delete role
// assignments, and nothing more: Role Based Access Control Administrator,
// constrained by an ABAC condition (version 2.0) to exactly the role
// definitions the mapping binds on this factory and to User and Group
// principals. Even a compromised service cannot make itself or anyone else
// Owner, or grant a role to a service principal.
//
// Deployed once per factory, scoped to the factory's resource group, which
// may be in another subscription.
targetScope = 'resourceGroup'

@description('Resource id of an existing Data Factory in this resource group.')
param factoryId string

@description('Principal id of the service\'s managed identity.')
param principalId string

@description('The resolved bindings ({ group, role: GUID, factories: [ids], kind, maxDuration }) of main.bicep; those naming factoryId decide the roles allowed here.')
param bindings array

@description('Role definition id of the PIM schedule writer role (pim-role.bicep); empty when no binding uses PIM.')
param pimRoleId string = ''

// Whether a binding on this factory is time-bound or eligible: only then
// does the identity get the schedule writer role here.
var usesSchedules = !empty(filter(bindings, b => contains(b.factories, factoryId) && (b.?kind == 'eligible' || !empty(b.?maxDuration ?? ''))))

// The role definition GUIDs bound on this factory, once each: the only roles
// the service may assign here.
var roleDefinitionIds = union(map(filter(bindings, b => contains(b.factories, factoryId)), b => b.role), [])

// Built-in role definition id.
var rbacAdministrator = 'f58310d9-a9f6-439a-9e8d-f62e7b41a168'

// The condition, with {roleIds} standing for the comma-separated GUIDs.
// A write is allowed only if the new assignment's role is one of them and
// its principal is a User or a Group; a delete only if the existing
// assignment is such an assignment.
var conditionTemplate = '''
(
 (
  !(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})
 )
 OR
 (
  @Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {{roleIds}}
  AND
  @Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {'User', 'Group'}
 )
)
AND
(
 (
  !(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})
 )
 OR
 (
  @Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {{roleIds}}
  AND
  @Resource[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {'User', 'Group'}
 )
)
'''

var condition = replace(conditionTemplate, '{roleIds}', join(roleDefinitionIds, ', '))

resource factory 'Microsoft.DataFactory/factories@2018-06-01' existing = {
  name: last(split(factoryId, '/'))
}

resource delegation 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: factory
  name: guid(factory.id, principalId, rbacAdministrator)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', rbacAdministrator)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'adfscim: assign only the mapped roles, to users and groups'
    condition: condition
    conditionVersion: '2.0'
  }
}

// PIM schedule requests (time-bound and eligible bindings): a separate role,
// as no condition can limit them to the mapped roles (docs/deploy.md).
resource pimWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (usesSchedules && !empty(pimRoleId)) {
  scope: factory
  name: guid(factory.id, principalId, 'adfscim-pim-schedule-writer')
  properties: {
    roleDefinitionId: pimRoleId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'adfscim: time-bound and eligible access through PIM schedule requests'
  }
}

@description('Role definition GUIDs the delegation allows.')
output roleDefinitionIds array = roleDefinitionIds

@description('Resource id of the constrained role assignment.')
output assignmentId string = delegation.id
