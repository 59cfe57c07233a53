// Optional custom role "Data Factory Pipeline Operator": run, watch and
// cancel pipelines without being able to change them. There is no built-in
// role for this. Deployed at subscription scope; assignable on the resource
// groups of the listed factories.
targetScope = 'subscription'

@description('GUID naming the role definition; the same GUID the mapping resolves "PipelineOperator" to.')
param roleGuid string

@description('Role name shown in the portal; unique in the tenant.')
param roleName string = 'Data Factory Pipeline Operator'

@description('Scopes (resource group ids) the role may be assigned at.')
@minLength(1)
param assignableScopes array

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: roleGuid
  properties: {
    roleName: roleName
    description: 'Run, monitor and cancel Data Factory pipelines; read factories. Managed by adfscim.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.DataFactory/factories/read'
          'Microsoft.DataFactory/factories/pipelines/read'
          'Microsoft.DataFactory/factories/pipelines/createrun/action'
          'Microsoft.DataFactory/factories/pipelineruns/read'
          'Microsoft.DataFactory/factories/pipelineruns/cancel/action'
          'Microsoft.DataFactory/factories/pipelineruns/activityruns/read'
          'Microsoft.DataFactory/factories/querypipelineruns/action'
          'Microsoft.DataFactory/factories/querypipelineruns/read'
          'Microsoft.DataFactory/factories/pipelineruns/queryactivityruns/action'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

@description('GUID of the role definition.')
output roleGuid string = role.name
