// Example parameters: copy, change every value, then
//   az deployment group create -g <rg> -f infra/main.bicep -p infra/main.bicepparam
using 'main.bicep'

param baseName = 'contoso'

param bindings = [
  {
    group: 'ADF Contributors'
    role: 'DataFactoryContributor'
    factories: [
      '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-data-prod/providers/Microsoft.DataFactory/factories/adf-contoso-prod'
    ]
  }
  {
    group: 'ADF Readers'
    role: 'Reader'
    factories: [
      '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-data-prod/providers/Microsoft.DataFactory/factories/adf-contoso-prod'
      '/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-data-test/providers/Microsoft.DataFactory/factories/adf-contoso-test'
    ]
  }
  {
    group: 'ADF Operators'
    role: 'PipelineOperator'
    factories: [
      '/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-data-test/providers/Microsoft.DataFactory/factories/adf-contoso-test'
    ]
  }
]

param createOperatorRole = true

// Your own object id: az ad signed-in-user show --query id -o tsv
param secretsAdminObjectId = ''

param tokenRotationInApp = false

param tags = {
  workload: 'adfscim'
}
