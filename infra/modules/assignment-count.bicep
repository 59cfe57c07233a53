// Lets the service's identity count the role assignments of one
// subscription (its budget against Azure's 5,000 per subscription): Reader
// would do, but a custom role with the one action reading role assignments
// is all it needs. Deployed at the scope of each subscription holding a
// mapped factory.
targetScope = 'subscription'

@description('Principal id of the service\'s managed identity.')
param principalId string

var roleGuid = guid(subscription().id, 'adfscim', 'assignment-count')

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: roleGuid
  properties: {
    roleName: 'adfscim role assignment counter (${subscription().subscriptionId})'
    description: 'Read role assignments, to count them against the subscription limit. Managed by adfscim.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Authorization/roleAssignments/read'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

resource counter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, roleGuid)
  properties: {
    roleDefinitionId: role.id
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'adfscim: count role assignments against the subscription limit'
  }
}
