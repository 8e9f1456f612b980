// Lets the Function App's identity read the status of ACI's long-running
// operations. ARM's Azure-AsyncOperation URL for a container group's delete,
// start, stop or restart lives at the subscription, not in the resource group
// (/subscriptions/{sub}/providers/Microsoft.ContainerInstance/locations/{loc}/operations/{id}),
// so the resource-group role of access.bicep does not cover it. gamefleet polls
// it when Delete/GC follow a delete for DELETE_WAIT and when Power follows a
// start/stop (src/cloud/azure/arm.rs wait_lro, operation_status).
//
// Read-only, and only operation statuses: no container group, no other resource.
// Deployed by main.bicep (module at subscription scope) unless
// grantOperationStatusRead=false; the deployer then needs the right to create
// role definitions and assignments at the subscription (Owner or User Access
// Administrator there).
targetScope = 'subscription'

@description('Principal (object) id of the Function App\'s user-assigned identity.')
param principalId string

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'gamefleet-aci-operation-status')
  properties: {
    roleName: 'gamefleet ACI operation status ${take(uniqueString(subscription().id), 6)}'
    description: 'gamefleet: read the status of Azure Container Instances long-running operations.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.ContainerInstance/locations/operations/read'
          'Microsoft.ContainerInstance/locations/operationResults/read'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, role.id)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: role.id
    description: 'gamefleet Function App: status of ACI long-running operations'
  }
}
