// gamefleet on Azure Functions Flex Consumption (Linux Consumption retires on
// 2028-09-30 and gets no new features; Flex runs custom handlers as runtime
// `custom`). One resource group holds the app: a user-assigned identity, the
// storage account (Functions host + gamefleet's tables + the deployment
// package + Event Grid's dead letters), Application Insights, and, when
// session-token keys are given, a Key Vault. The identity gets data roles on
// that account only and custom roles on the games resource group (access.bicep)
// and for ACI operation status (operations.bicep): no account key, no
// connection string, no Contributor.
//
//   az deployment group create -g <rg> -f deploy/azure/main.bicep -p appName=<name> [gamesResourceGroup=<rg>]
//   GAMEFLEET_TARGET=x86_64-unknown-linux-musl deploy/package.sh
//   az functionapp deployment source config-zip -g <rg> -n <name> --src dist/gamefleet-functionapp.zip
//   deploy/azure/events.sh <rg>        (events.bicep, once Monitor exists)
//
// or `azd up` (azure.yaml at the repository root does all three).
//
// Checked offline only (scripts/check-deploy: pycep parse + checkov); never
// deployed to a live subscription from CI.

@description('Function App name (also the host name prefix; globally unique).')
@minLength(2)
@maxLength(60)
param appName string

@description('Region of every resource (one that offers Flex Consumption).')
param location string = resourceGroup().location

@description('Resource group where game servers (container groups) are created; empty = this one. It must exist.')
param gamesResourceGroup string = ''

@description('Grant the identity read of ACI operation statuses at the subscription (operations.bicep). Needs Owner or User Access Administrator on the subscription; without it Delete/GC and Power cannot follow ARM\'s long-running operations.')
param grantOperationStatusRead bool = true

@description('NCRONTAB schedule of GC (6 fields). Every minute by default.')
param gcSchedule string = '0 */1 * * * *'
@description('NCRONTAB (with seconds) of the ScheduleTick timer that applies power schedules')
param scheduleTick string = '0 * * * * *'
@description('Autoscaler timer (NCRONTAB with seconds): how often fleets are brought to their buffer.')
param autoscaleSchedule string = '*/30 * * * * *'

@description('Table that holds the fleet (the original project used ACIDetails); gamefleet also uses <fleetTable>Keys, Schedules, Fleets and Allocations.')
param fleetTable string = 'ACIDetails'

@description('Signing keys of the game servers\' session tokens: id:base64secret[,id:base64secret] (openssl rand -base64 32). Given: stored as a Key Vault secret that the app reads through a Key Vault reference. Empty: no vault; gamefleet generates one key and keeps it in the table <fleetTable>Keys.')
@secure()
param sessionTokenKeys string = ''

@description('Most instances Flex may scale the app to. gamefleet paces ARM writes per process, so fewer instances share ARM\'s write bucket more evenly.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance (MB). The Rust handler needs little; the Functions host is most of it.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Redundancy of the storage account (fleet state, host, package). ZRS survives a zone failure; not every region offers it.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
])
param storageSku string = 'Standard_ZRS'

@description('Spread the Flex Consumption plan\'s instances over availability zones (the region must have them).')
param zoneRedundant bool = false

@description('Tags on every resource.')
param tags object = {}

var gamesRg = empty(gamesResourceGroup) ? resourceGroup().name : gamesResourceGroup
var token = uniqueString(resourceGroup().id, appName)
var storageName = take('st${token}', 24)
// Flex reads the package from this container (functionAppConfig.deployment).
var packageContainer = 'app-package'
// Event Grid writes the events it could not deliver to Monitor here (events.bicep).
var deadLetterContainer = 'eventgrid-deadletter'
var withKeys = !empty(sessionTokenKeys)
var vaultName = take('kv${token}', 24)
var sessionKeysSecret = 'session-token-keys'

// Built-in roles (ids are the same in every tenant).
var roles = {
  // The host's own blobs: locks, timers' schedule status, function keys
  // (azure-webjobs-hosts, azure-webjobs-secrets), and reading the package.
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // gamefleet's tables (created on first use) and the host's diagnostic events.
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  // Telemetry with Entra ID auth (Application Insights' local auth is off).
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}
// No Storage Queue Data Contributor: gamefleet's triggers are HTTP, timer and
// Event Grid (a webhook); none uses queues, and the host touches queues only
// for queue triggers/bindings and blob-trigger receipts.

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${appName}-id'
  location: location
  tags: tags
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: the app runs without a virtual network (Flex Consumption, public endpoint), so the account must accept public traffic; every request still needs an Entra ID token of a role holder (shared keys are off).
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35: public network access is how a Flex app without a virtual network reaches its storage; anonymous blob access and shared keys are off.
  // checkov:skip=CKV_AZURE_43: the name is computed: take('st' + uniqueString(...), 24), lower-case letters and digits, 15 characters, which the rules allow; checkov cannot evaluate the expression.
  name: storageName
  location: location
  tags: tags
  // checkov:skip=CKV_AZURE_206: zone-redundant (ZRS) by default, not geo-redundant: a geo failover of the account is manual and would leave this region's Function App down anyway; choose Standard_GZRS with storageSku where wanted.
  sku: { name: storageSku }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    // Entra ID only: nothing holds or can use an account key.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource packages 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: packageContainer
  properties: { publicAccess: 'None' }
}

resource deadLetters 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainer
  properties: { publicAccess: 'None' }
}

resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.storageBlobDataOwner)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.storageTableDataContributor)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${appName}-logs'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${appName}-ai'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    // Ingestion only with an Entra ID token (APPLICATIONINSIGHTS_AUTHENTICATION_STRING):
    // the connection string alone cannot send telemetry.
    DisableLocalAuth: true
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: insights
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

// Only when keys are given: the vault, the secret, the identity's read of it.
module vault 'keyvault.bicep' = if (withKeys) {
  name: '${appName}-session-keys'
  params: {
    name: vaultName
    location: location
    tags: tags
    readerPrincipalId: identity.properties.principalId
    secretName: sessionKeysSecret
    sessionTokenKeys: sessionTokenKeys
  }
}

// App settings. Flex takes no FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION
// or WEBSITE_CONTENT* settings (functionAppConfig replaces them).
var hostName = '${appName}.azurewebsites.net'
var appSettings = concat([
  // Functions host storage by identity: no AzureWebJobsStorage connection string.
  { name: 'AzureWebJobsStorage__accountName', value: storage.name }
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
  // Telemetry: the connection string says where, the authentication string
  // makes the host send it with the identity's token (local auth is off).
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
  // What gamefleet reads (src/config.rs):
  { name: 'AZURE_SUBSCRIPTION_ID', value: subscription().subscriptionId }
  // The user-assigned identity for ARM tokens (IDENTITY_ENDPOINT + client_id).
  { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
  { name: 'FLEET_TABLE', value: fleetTable }
  { name: 'GC_SCHEDULE', value: gcSchedule }
  { name: 'SCHEDULE_TICK', value: scheduleTick }
  { name: 'AUTOSCALE_SCHEDULE', value: autoscaleSchedule }
  // The app's default host name (<name>.azurewebsites.net: this template sets
  // no autoGeneratedDomainNameLabelScope); change it with a custom domain.
  { name: 'ACI_SET_SESSIONS_URL', value: 'https://${hostName}/api/ReportSessions' }
], withKeys ? [
  // No version in the URI: the reference follows the secret's current version.
  { name: 'SESSION_TOKEN_KEYS', value: '@Microsoft.KeyVault(SecretUri=https://${vaultName}${environment().suffixes.keyvaultDns}/secrets/${sessionKeysSecret}/)' }
] : [])

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy is a parameter (zoneRedundant), off by default because not every region that offers Flex Consumption has availability zones; turn it on where the region has them.
  name: '${appName}-plan'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: the API is called over the internet by the matchmaker, Event Grid and the game servers (ReportSessions); callers authenticate with function keys or per-server tokens.
  // checkov:skip=CKV_AZURE_17: client certificates: none of the callers (matchmaker, Event Grid, game servers in ACI) has one; they authenticate with function keys or per-server tokens.
  // checkov:skip=CKV_AZURE_212: a minimum instance count would keep instances running; scale to zero is why this is a Flex Consumption app (always-ready instances can be set in functionAppConfig.scaleAndConcurrency.alwaysReady).
  // checkov:skip=CKV_AZURE_213: App Service health check is not used: Flex Consumption places and replaces instances itself (not verified that it honours healthCheckPath); GET / answers without a key for an external probe.
  name: appName
  location: location
  kind: 'functionapp,linux'
  // azd finds the service's app by this tag (azure.yaml: services.gamefleet).
  tags: union(tags, { 'azd-service-name': 'gamefleet' })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve with the user-assigned identity (there is no system-assigned one).
    keyVaultReferenceIdentity: identity.id
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${packageContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      // A custom handler (host.json customHandler): the host starts `gamefleet serve`.
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      appSettings: appSettings
    }
  }
  dependsOn: [
    // The host reads its storage, the package and its secret as soon as the app exists.
    blobOwner
    tableContributor
    metricsPublisher
    vault
  ]
}

module access 'access.bicep' = {
  name: '${appName}-aci-access'
  scope: resourceGroup(gamesRg)
  params: {
    principalId: identity.properties.principalId
  }
}

module operations 'operations.bicep' = if (grantOperationStatusRead) {
  name: '${appName}-aci-operations'
  scope: subscription()
  params: {
    principalId: identity.properties.principalId
  }
}

// Outputs in azd's style (they become azd environment values for the hooks).
output GAMEFLEET_FUNCTION_APP_NAME string = app.name
output GAMEFLEET_FUNCTION_APP_ID string = app.id
output GAMEFLEET_HOSTNAME string = app.properties.defaultHostName
output GAMEFLEET_GAMES_RESOURCE_GROUP string = gamesRg
output GAMEFLEET_IDENTITY_PRINCIPAL_ID string = identity.properties.principalId
output GAMEFLEET_IDENTITY_CLIENT_ID string = identity.properties.clientId
output GAMEFLEET_STORAGE_ACCOUNT_ID string = storage.id
output GAMEFLEET_DEADLETTER_CONTAINER string = deadLetterContainer
