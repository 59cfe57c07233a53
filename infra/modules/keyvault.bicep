// Key Vault holding the IdP clients' bearer tokens. Access is by Azure RBAC
// only (no access policies); soft delete and purge protection keep a deleted
// token recoverable and the vault from being purged by mistake.

@description('Key Vault name (3-24 letters, digits and hyphens).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags applied to the vault.')
param tags object = {}

@description('Principal id of the service\'s managed identity.')
param principalId string

@description('Grant the service Key Vault Secrets Officer (write) instead of only Secrets User (read). Needed only if token rotation runs inside the app.')
param grantSecretsOfficer bool = false

@description('Object id of a person or group who creates and rotates tokens with `adfscim token`; empty grants no one.')
param secretsAdminObjectId string = ''

@description('Principal type of secretsAdminObjectId.')
@allowed([
  'User'
  'Group'
])
param secretsAdminPrincipalType string = 'User'

// Built-in role definition ids.
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

// The service reads the current and previous tokens to check bearer tokens.
resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, principalId, keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'adfscim: read bearer tokens'
  }
}

// Only if rotation runs in the app; otherwise operators rotate from outside.
resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantSecretsOfficer) {
  scope: vault
  name: guid(vault.id, principalId, keyVaultSecretsOfficer)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'adfscim: rotate bearer tokens in the app'
  }
}

// The operator who runs `adfscim token create|rotate|revoke`.
resource adminOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(secretsAdminObjectId)) {
  scope: vault
  name: guid(vault.id, secretsAdminObjectId, keyVaultSecretsOfficer)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: secretsAdminObjectId
    principalType: secretsAdminPrincipalType
    description: 'adfscim: token administration'
  }
}

@description('Vault URI, with a trailing slash (KEYVAULT_URL).')
output uri string = vault.properties.vaultUri

@description('Vault name.')
output name string = vault.name
