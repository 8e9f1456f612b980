// Event Grid: resource events of the game resource group's container groups,
// delivered to the Monitor function. Deploy into the game resource group after
// the code is deployed (Event Grid checks that the function exists).
//
//   az deployment group create -g <games rg> -f deploy/azure/events.bicep -p functionAppId=<app resource id>
param functionAppId string

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: 'gamefleet-${uniqueString(resourceGroup().id)}'
  location: 'global'
  properties: {
    source: resourceGroup().id
    topicType: 'Microsoft.Resources.ResourceGroups'
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
      includedEventTypes: [
        'Microsoft.Resources.ResourceWriteSuccess'
        'Microsoft.Resources.ResourceWriteFailure'
        'Microsoft.Resources.ResourceWriteCancel'
        'Microsoft.Resources.ResourceDeleteSuccess'
      ]
      advancedFilters: [
        { operatorType: 'StringContains', key: 'subject', values: [ 'Microsoft.ContainerInstance/containerGroups' ] }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}
