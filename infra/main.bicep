// adfscim: one deployment per tenant.
//
//   az deployment group create -g <rg> -f infra/main.bicep -p infra/main.bicepparam
//
// Creates a user-assigned identity that the service uses for everything, a
// storage account (shared keys off) with the service's tables and the
// deployment container, a Key Vault for the bearer tokens (RBAC only), Log
// Analytics and Application Insights (local auth off), an immutable container
// and a Key Vault key for the audit trail's signed checkpoints, a Flex Consumption
// Function App running the Go custom handler, and on every Data Factory named
// in `bindings` a Role Based Access Control Administrator assignment that an
// ABAC condition limits to the roles mapped on that factory and to User and
// Group principals. See docs/deploy.md.
targetScope = 'resourceGroup'

@description('Short name of this deployment, used in resource names: 3-11 lower-case letters and digits.')
@minLength(3)
@maxLength(11)
param baseName string

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('Function App name, globally unique: the SCIM endpoint is https://<appName>.azurewebsites.net/scim/v2.')
param appName string = 'func-${baseName}-${uniqueString(resourceGroup().id, baseName)}'

@description('''Group-to-role bindings: each { group, role, factories } and optionally kind and maxDuration.
group: the SCIM group's displayName or externalId;
role: a role definition GUID, or one of the aliases DataFactoryContributor, Reader, PipelineOperator;
factories: Data Factory resource ids, in any resource group or subscription of the tenant;
kind: active (default) or eligible (a PIM eligibility); maxDuration: a Go duration bounding each grant (720h).
Time-bound and eligible kinds use PIM for Azure resources: an Entra ID P2 or Governance licence.
Written to ADFSCIM_MAPPING, and the only roles the service may assign on each factory.''')
param bindings array = []

@description('''Roles an identity provider may grant one person directly (Okta entitlements, Entra app roles): each { factories, roles }.
factories: Data Factory resource ids; roles: role definition GUIDs or the aliases of bindings.
Written to ADFSCIM_MAPPING's grants section; their roles are allowed on those factories like the bindings' (docs/okta.md, docs/entra-id.md).''')
param grants array = []

@description('Create the custom role "Data Factory Pipeline Operator" (alias PipelineOperator in bindings).')
param createOperatorRole bool = false

@description('Name of the custom operator role; unique in the Entra tenant.')
param operatorRoleName string = 'Data Factory Pipeline Operator'

@description('Grant the service Key Vault Secrets Officer so token rotation can run inside the app. Off: operators rotate with `adfscim token rotate`.')
param tokenRotationInApp bool = false

@description('Object id of the person or group who creates and rotates tokens (Key Vault Secrets Officer on the vault); empty grants no one.')
param secretsAdminObjectId string = ''

@description('Principal type of secretsAdminObjectId.')
@allowed([
  'User'
  'Group'
])
param secretsAdminPrincipalType string = 'User'

@description('How long the last known tokens stay valid while Key Vault cannot be reached (ADFSCIM_TOKEN_GRACE), as a Go duration.')
param tokenGrace string = '1h'

@description('How often the service re-reads the tokens from Key Vault (ADFSCIM_TOKEN_REFRESH), as a Go duration.')
param tokenRefresh string = '5m'

@description('Azure Resource Manager endpoint (ADFSCIM_ARM_ENDPOINT).')
param armEndpoint string = environment().resourceManager

@description('Microsoft Graph endpoint for userPrincipalName lookups (ADFSCIM_GRAPH_ENDPOINT); empty turns them off.')
param graphEndpoint string = ''

@description('Custom SCIM extension schemas (ADFSCIM_SCHEMA_EXTENSIONS): a JSON array of {id, resourceType, attributes}; empty for none.')
param schemaExtensions string = ''

@description('Full name of a user extension attribute carrying the Entra object id when externalId does not (ADFSCIM_PRINCIPAL_ATTRIBUTE); empty to rely on externalId and Graph.')
param principalAttribute string = ''

@description('Full name of the user attribute holding when a person\'s access ends (ADFSCIM_ACCESS_ENDS_ATTRIBUTE); - reads none.')
param accessEndsAttribute string = 'urn:ietf:params:scim:schemas:extension:adfscim:2.0:User:accessEndsAt'

@description('Share of the 5,000 role assignments per subscription that creates stop short of (ADFSCIM_ASSIGNMENT_BUDGET); 0 turns the check off.')
param assignmentBudget string = '0.9'

@description('Grant the identity read access to role assignments at each factory\'s subscription, to count them against the limit (needs the deployer to assign roles there). Without it, and with the budget on, no assignment is created.')
param grantAssignmentCount bool = true

@description('Days audit records are kept (ADFSCIM_AUDIT_RETENTION_DAYS); 0 keeps them forever.')
@minValue(0)
param auditRetentionDays int = 0

@description('Time within which a loss of access should be carried out in Azure (ADFSCIM_REVOKE_TARGET); the report lists slower ones as breaches.')
param revokeTarget string = '1h'

@description('Days each blob of signed audit checkpoints stays immutable (the container\'s time-based retention); at least as long as the audit records must be kept.')
@minValue(1)
@maxValue(146000)
param checkpointRetentionDays int = 365

@description('Set after locking the checkpoint container\'s immutability policy (docs/compliance.md), so redeploys leave the locked policy alone.')
param checkpointPolicyLocked bool = false

@description('Service log level (ADFSCIM_LOG_LEVEL).')
@allowed([
  'debug'
  'info'
  'warn'
  'error'
])
param logLevel string = 'info'

@description('Days Log Analytics keeps data.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Most instances the Flex Consumption plan scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Tags applied to every resource.')
param tags object = {}

var suffix = uniqueString(resourceGroup().id, baseName)
var deploymentContainerName = 'app-package'
// The service's tables (internal/deploy.Tables).
var tableNames = [
  'scim'
  'rbac'
  'audit'
  'tokens'
]

// The custom role's GUID is fixed per subscription so a redeploy updates it.
var operatorRoleGuid = guid(subscription().id, 'adfscim', operatorRoleName)
var roleAliases = {
  DataFactoryContributor: '673868aa-7521-48a0-acc6-0f60742d39f5'
  Reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
  PipelineOperator: operatorRoleGuid
}

// Bindings with every role resolved to its GUID.
var resolvedBindings = map(bindings, b => {
  group: b.group
  role: contains(roleAliases, b.role) ? roleAliases[b.role] : b.role
  factories: b.factories
  kind: b.?kind ?? 'active'
  maxDuration: b.?maxDuration ?? ''
})

// Direct grants with every role resolved to its GUID.
var resolvedGrants = map(grants, g => {
  factories: g.factories
  roles: map(g.roles, r => contains(roleAliases, r) ? roleAliases[r] : r)
})

// What each factory's delegation allows: the bindings' roles and the direct
// grants' roles, as standing bindings of no group.
var delegatedBindings = concat(resolvedBindings, flatten(map(resolvedGrants, g => map(g.roles, r => {
  group: ''
  role: r
  factories: g.factories
  kind: 'active'
  maxDuration: ''
}))))

// Bindings granting through PIM schedules: time-bound or eligible.
var scheduledBindings = filter(resolvedBindings, b => b.kind == 'eligible' || !empty(b.maxDuration))

// The GUID of the custom role that submits PIM schedule requests.
var pimRoleGuid = guid(subscription().id, 'adfscim', 'pim-schedule-writer')

// Every factory named by a binding or a direct grant, once.
var factoryIds = union(flatten(map(delegatedBindings, b => b.factories)), [])

module identity 'modules/identity.bicep' = {
  name: 'adfscim-identity'
  params: {
    name: 'id-${baseName}-${suffix}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'adfscim-storage'
  params: {
    name: take('st${baseName}${suffix}', 24)
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    deploymentContainerName: deploymentContainerName
    tableNames: tableNames
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'adfscim-keyvault'
  params: {
    name: take('kv-${baseName}-${suffix}', 24)
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    grantSecretsOfficer: tokenRotationInApp
    secretsAdminObjectId: secretsAdminObjectId
    secretsAdminPrincipalType: secretsAdminPrincipalType
  }
}

module checkpoints 'modules/checkpoints.bicep' = {
  name: 'adfscim-checkpoints'
  params: {
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    principalId: identity.outputs.principalId
    retentionDays: checkpointRetentionDays
    policyLocked: checkpointPolicyLocked
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'adfscim-monitoring'
  params: {
    workspaceName: 'log-${baseName}-${suffix}'
    appInsightsName: 'appi-${baseName}-${suffix}'
    location: location
    tags: tags
    retentionInDays: logRetentionDays
    principalId: identity.outputs.principalId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'adfscim-functionapp'
  params: {
    name: appName
    planName: 'plan-${baseName}-${suffix}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.connectionString
    maximumInstanceCount: maximumInstanceCount
    // The service's settings (internal/config.Settings); the module adds the
    // host's own and APPLICATIONINSIGHTS_CONNECTION_STRING.
    appSettings: {
      TABLES_ENDPOINT: storage.outputs.tableEndpoint
      AZURE_CLIENT_ID: identity.outputs.clientId
      KEYVAULT_URL: keyVault.outputs.uri
      ADFSCIM_TOKEN_GRACE: tokenGrace
      ADFSCIM_TOKEN_REFRESH: tokenRefresh
      ADFSCIM_MAPPING: string({
        bindings: resolvedBindings
        grants: resolvedGrants
      })
      ADFSCIM_ARM_ENDPOINT: armEndpoint
      ADFSCIM_GRAPH_ENDPOINT: graphEndpoint
      ADFSCIM_SCHEMA_EXTENSIONS: schemaExtensions
      ADFSCIM_ARM: 'azure'
      // The GUID the service resolves the role name PipelineOperator to: the
      // same expression the custom role is created with, so the two agree
      // whatever the deployment's subscription and operatorRoleName.
      ADFSCIM_OPERATOR_ROLE_ID: operatorRoleGuid
      ADFSCIM_PRINCIPAL_ATTRIBUTE: principalAttribute
      ADFSCIM_ACCESS_ENDS_ATTRIBUTE: accessEndsAttribute
      ADFSCIM_ASSIGNMENT_BUDGET: assignmentBudget
      ADFSCIM_AUDIT_RETENTION_DAYS: string(auditRetentionDays)
      ADFSCIM_REVOKE_TARGET: revokeTarget
      ADFSCIM_CHECKPOINT_KEY_URL: checkpoints.outputs.keyUrl
      ADFSCIM_CHECKPOINT_BLOB_URL: checkpoints.outputs.containerUrl
      ADFSCIM_LOG_LEVEL: logLevel
    }
  }
}

module operatorRole 'modules/operator-role.bicep' = if (createOperatorRole && !empty(factoryIds)) {
  name: 'adfscim-operator-role'
  scope: subscription()
  params: {
    roleGuid: operatorRoleGuid
    roleName: operatorRoleName
    assignableScopes: union(map(factoryIds, f => '/subscriptions/${split(f, '/')[2]}/resourceGroups/${split(f, '/')[4]}'), [])
  }
}

module pimRole 'modules/pim-role.bicep' = if (!empty(scheduledBindings)) {
  name: 'adfscim-pim-role'
  scope: subscription()
  params: {
    roleGuid: pimRoleGuid
    assignableScopes: union(map(factoryIds, f => '/subscriptions/${split(f, '/')[2]}/resourceGroups/${split(f, '/')[4]}'), [])
  }
}

// On each factory, in its own subscription and resource group, the
// delegation limited to the roles the bindings name for that factory (and,
// when its bindings use PIM, the schedule writer role).
module factoryRbac 'modules/factory-rbac.bicep' = [for (f, i) in factoryIds: {
  name: 'adfscim-factory-${i}'
  scope: resourceGroup(split(f, '/')[2], split(f, '/')[4])
  params: {
    factoryId: f
    principalId: identity.outputs.principalId
    bindings: delegatedBindings
    pimRoleId: empty(scheduledBindings) ? '' : '/subscriptions/${subscription().subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${pimRoleGuid}'
  }
  dependsOn: [
    pimRole
  ]
}]

// Each subscription holding a factory: read access to its role assignments,
// to count them against Azure's limit.
var factorySubscriptions = union(map(factoryIds, f => split(f, '/')[2]), [])

module assignmentCount 'modules/assignment-count.bicep' = [for (s, i) in factorySubscriptions: if (grantAssignmentCount) {
  name: 'adfscim-assignment-count-${i}'
  scope: subscription(s)
  params: {
    principalId: identity.outputs.principalId
  }
}]

@description('SCIM base URL for the identity provider.')
output scimBaseUrl string = 'https://${functionApp.outputs.defaultHostName}/scim/v2'

@description('Tenant URL for a Microsoft Entra ID provisioning job (SCIM 2.0 compliant mode).')
output entraTenantUrl string = 'https://${functionApp.outputs.defaultHostName}/scim/v2?aadOptscim062020'

@description('Function App name, for `az functionapp deploy`.')
output functionAppName string = functionApp.outputs.name

@description('Key Vault URL, for KEYVAULT_URL when running `adfscim token` from a workstation.')
output keyVaultUrl string = keyVault.outputs.uri

@description('Table Storage endpoint, for TABLES_ENDPOINT when running the state commands (plan, reconcile, export, audit, token) from a workstation.')
output tablesEndpoint string = storage.outputs.tableEndpoint

@description('Signed audit checkpoints, for ADFSCIM_CHECKPOINT_BLOB_URL when an auditor runs `adfscim audit verify -checkpoints`.')
output checkpointBlobUrl string = checkpoints.outputs.containerUrl

@description('Key that signs the audit checkpoints, for ADFSCIM_CHECKPOINT_KEY_URL when running `adfscim audit public-key`.')
output checkpointKeyUrl string = checkpoints.outputs.keyUrl

@description('Application Insights component name, for `az monitor app-insights query --app`.')
output appInsightsName string = monitoring.outputs.name

@description('Client id of the service\'s managed identity.')
output identityClientId string = identity.outputs.clientId

@description('Object id of the service\'s managed identity.')
output identityPrincipalId string = identity.outputs.principalId

@description('GUID of the custom operator role, when created.')
output operatorRoleDefinitionId string = createOperatorRole ? operatorRoleGuid : ''
