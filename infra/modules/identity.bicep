// The one user-assigned managed identity the service uses for everything:
// the Functions host's own storage, Table Storage, Key Vault, Application
// Insights and the role assignments on the factories. A user-assigned
// identity outlives the Function App, so its grants survive a redeploy.

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region.')
param location string

@description('Tags applied to the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id of the identity.')
output id string = identity.id

@description('Object (principal) id of the identity, used in role assignments.')
output principalId string = identity.properties.principalId

@description('Client id of the identity (AZURE_CLIENT_ID).')
output clientId string = identity.properties.clientId
