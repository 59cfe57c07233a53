// Signed checkpoints of the audit trail, kept outside the trail: a blob
// container whose time-based immutability policy allows protected appends
// only (blocks can be added to append blobs; nothing can be changed or
// deleted while the retention runs), and an EC P-256 Key Vault key that the
// service may sign with but never export. See docs/compliance.md.

@description('Storage account that holds the container.')
param storageAccountName string

@description('Key Vault that holds the signing key (RBAC authorization).')
param keyVaultName string

@description('Principal id of the service\'s managed identity.')
param principalId string

@description('Container name.')
param containerName string = 'audit-checkpoints'

@description('Key name.')
param keyName string = 'audit-checkpoints'

@description('Days each checkpoint blob stays immutable after it is created.')
@minValue(1)
@maxValue(146000)
param retentionDays int

@description('Set once the policy has been locked (docs/compliance.md): a locked policy can only be extended, so the template leaves it alone.')
param policyLocked bool = false

// Built-in role definition ids.
var keyVaultCryptoUser = '12338af0-0e69-4776-bea7-57ae8d297424'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}

resource policy 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = if (!policyLocked) {
  parent: container
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: retentionDays
    allowProtectedAppendWrites: true
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// Created once: a redeploy returns the existing key without a new version.
resource key 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: keyName
  properties: {
    kty: 'EC'
    curveName: 'P-256'
    keyOps: [
      'sign'
      'verify'
    ]
    attributes: {
      enabled: true
      exportable: false
    }
  }
}

// Sign with this one key (and read its public part); no other key, no
// secret, no export or release.
resource keyUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: key
  name: guid(key.id, principalId, keyVaultCryptoUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'adfscim: sign audit checkpoints'
  }
}

// Append the checkpoints. The immutability policy, not this role, is what
// keeps them: no role can change or delete a protected blob.
resource blobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: container
  name: guid(container.id, principalId, storageBlobDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'adfscim: append audit checkpoints'
  }
}

@description('Key URL without a version (ADFSCIM_CHECKPOINT_KEY_URL).')
output keyUrl string = key.properties.keyUri

@description('Container URL (ADFSCIM_CHECKPOINT_BLOB_URL).')
output containerUrl string = '${account.properties.primaryEndpoints.blob}${containerName}'
