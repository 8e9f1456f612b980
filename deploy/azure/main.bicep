// gamefleet infrastructure: storage (state + Functions runtime), a Linux
// Function App running the custom handler with a system-assigned identity, and
// that identity's right to manage container groups in the game resource group.
// Deploy the code next (deploy/package.sh + zip deploy), then events.bicep.
//
//   az deployment group create -g <rg> -f deploy/azure/main.bicep -p appName=<name>
//
// Not validated against a live subscription from this repository's CI (no Azure
// access there); `az bicep build` it before first use.

@description('Function App name (also the host name prefix).')
param appName string

@description('Region of every resource.')
param location string = resourceGroup().location

@description('Resource group where game servers (container groups) are created; defaults to this one.')
param gamesResourceGroup string = resourceGroup().name

@description('NCRONTAB schedule of GC (6 fields). Every minute by default.')
param gcSchedule string = '0 */1 * * * *'
@description('NCRONTAB (with seconds) of the ScheduleTick timer that applies power schedules')
param scheduleTick string = '0 * * * * *'
@description('Autoscaler timer (NCRONTAB with seconds): how often fleets are brought to their buffer.')
param autoscaleSchedule string = '*/30 * * * * *'

@description('Table that holds the fleet (the original project used ACIDetails).')
param fleetTable string = 'ACIDetails'

@description('Signing keys of the game servers\' session tokens: id:base64secret[,id:base64secret] (openssl rand -base64 32). Empty: gamefleet generates one key and keeps it in the table <fleetTable>Keys of the storage account.')
@secure()
param sessionTokenKeys string = ''

var storageName = take('st${uniqueString(resourceGroup().id, appName)}', 24)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    supportsHttpsTrafficOnly: true
  }
}

resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  name: '${appName}-plan'
  location: location
  kind: 'functionapp'
  sku: { name: 'Y1', tier: 'Dynamic' }
  properties: { reserved: true }
}

var storageConnection = 'DefaultEndpointsProtocol=https;AccountName=${storage.name};EndpointSuffix=${environment().suffixes.storage};AccountKey=${storage.listKeys().keys[0].value}'

resource app 'Microsoft.Web/sites@2023-12-01' = {
  name: appName
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      linuxFxVersion: ''
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [
        { name: 'FUNCTIONS_EXTENSION_VERSION', value: '~4' }
        { name: 'FUNCTIONS_WORKER_RUNTIME', value: 'custom' }
        { name: 'AzureWebJobsStorage', value: storageConnection }
        { name: 'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING', value: storageConnection }
        { name: 'WEBSITE_CONTENTSHARE', value: toLower(appName) }
        { name: 'AZURE_SUBSCRIPTION_ID', value: subscription().subscriptionId }
        { name: 'FLEET_TABLE', value: fleetTable }
        { name: 'GC_SCHEDULE', value: gcSchedule }
        { name: 'SCHEDULE_TICK', value: scheduleTick }
        { name: 'AUTOSCALE_SCHEDULE', value: autoscaleSchedule }
        { name: 'ACI_SET_SESSIONS_URL', value: 'https://${appName}.azurewebsites.net/api/ReportSessions' }
        { name: 'SESSION_TOKEN_KEYS', value: sessionTokenKeys }
      ]
    }
  }
}

module access 'access.bicep' = {
  name: '${appName}-aci-access'
  scope: resourceGroup(gamesResourceGroup)
  params: {
    principalId: app.identity.principalId
  }
}

output functionAppName string = app.name
output principalId string = app.identity.principalId
