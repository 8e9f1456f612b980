// Event Grid: the games resource group's container-group writes and deletes,
// delivered to the Monitor function (functions/Monitor/function.json:
// eventGridTrigger), one event per call. Events Event Grid gives up on
// (30 attempts or 24 hours) are written as blobs to a container of the app's
// storage account, with the topic's own identity (no key, no SAS).
//
// Deploy into the games resource group after the code (Event Grid checks that
// the Monitor function exists when the subscription is created):
//
//   deploy/azure/events.sh <app resource group>      (reads main.bicep's outputs)
//   az deployment group create -g <games rg> -f deploy/azure/events.bicep \
//     -p functionAppId=<app id> deadLetterStorageAccountId=<storage id> [deadLetterContainer=eventgrid-deadletter]

@description('Resource id of the Function App (main.bicep output GAMEFLEET_FUNCTION_APP_ID).')
param functionAppId string

@description('Resource id of the storage account that keeps undeliverable events (main.bicep output GAMEFLEET_STORAGE_ACCOUNT_ID).')
param deadLetterStorageAccountId string

@description('Blob container for undeliverable events (main.bicep output GAMEFLEET_DEADLETTER_CONTAINER).')
param deadLetterContainer string = 'eventgrid-deadletter'

// Storage Blob Data Contributor: write the dead-lettered events' blobs.
var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

// A resource group's system topic is global: ARM's resource events have no region.
resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: 'gamefleet-${uniqueString(resourceGroup().id)}'
  location: 'global'
  // Its own identity, used for dead-lettering only (deadLetterWithResourceIdentity).
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: resourceGroup().id
    topicType: 'Microsoft.Resources.ResourceGroups'
  }
}

// The topic's identity may write blobs in the dead-letter container only.
module deadLetterAccess 'deadletter-access.bicep' = {
  name: 'gamefleet-deadletter-access-${uniqueString(resourceGroup().id)}'
  scope: resourceGroup(split(deadLetterStorageAccountId, '/')[2], split(deadLetterStorageAccountId, '/')[4])
  params: {
    storageAccountName: last(split(deadLetterStorageAccountId, '/'))
    containerName: deadLetterContainer
    principalId: topic.identity.principalId
    roleDefinitionId: blobDataContributor
  }
}

resource monitor 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'gamefleet-monitor'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/Monitor'
        maxEventsPerBatch: 1
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      // Monitor treats every event as "look now" and reads the group from ARM
      // (src/fleet/events.rs): a write's success, failure or cancel moves the
      // row (Running, Failed), a delete's success removes it.
      includedEventTypes: [
        'Microsoft.Resources.ResourceWriteSuccess'
        'Microsoft.Resources.ResourceWriteFailure'
        'Microsoft.Resources.ResourceWriteCancel'
        'Microsoft.Resources.ResourceDeleteSuccess'
      ]
      // Container groups only: everything else written in the resource group
      // (role assignments, this topic...) is not Monitor's business. The
      // subject is the resource id, so it carries the resource type.
      advancedFilters: [
        {
          operatorType: 'StringContains'
          key: 'subject'
          values: [
            '/providers/Microsoft.ContainerInstance/containerGroups/'
          ]
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainer
        }
      }
    }
  }
  dependsOn: [
    // Event Grid checks its right to the dead-letter container.
    deadLetterAccess
  ]
}

output systemTopicName string = topic.name
output eventSubscriptionName string = monitor.name
