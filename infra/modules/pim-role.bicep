// Custom role "adfscim PIM schedule writer": submit and read PIM schedule
// requests (time-bound assignments and eligibilities) and read the resulting
// schedules and instances, nothing else. The built-in Role Based Access
// Control Administrator does not include the schedule request actions, and
// Azure's conditions on role assignment delegation cover only
// roleAssignments/write and delete: this role cannot be limited to the
// mapped roles, which is the trade docs/deploy.md explains. Deployed at
// subscription scope; assigned on each factory whose bindings use
// time-bound or eligible kinds (factory-rbac.bicep).
targetScope = 'subscription'

@description('GUID naming the role definition.')
param roleGuid string

@description('Role name shown in the portal; unique in the tenant.')
param roleName string = 'adfscim PIM schedule writer'

@description('Scopes (resource group ids) the role may be assigned at.')
@minLength(1)
param assignableScopes array

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: roleGuid
  properties: {
    roleName: roleName
    description: 'Submit and read PIM schedule requests for Azure roles, read schedules and instances. Managed by adfscim.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Authorization/roleAssignmentScheduleRequests/write'
          'Microsoft.Authorization/roleAssignmentScheduleRequests/read'
          'Microsoft.Authorization/roleEligibilityScheduleRequests/write'
          'Microsoft.Authorization/roleEligibilityScheduleRequests/read'
          'Microsoft.Authorization/roleAssignmentSchedules/read'
          'Microsoft.Authorization/roleEligibilitySchedules/read'
          'Microsoft.Authorization/roleAssignmentScheduleInstances/read'
          'Microsoft.Authorization/roleEligibilityScheduleInstances/read'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

@description('Resource id of the role definition.')
output roleDefinitionId string = role.id
