// What the Function App's identity may do in one games resource group: the
// container-group operations gamefleet calls (src/cloud/azure/arm.rs and
// power.rs), nothing else: no Contributor, no other resource types, no
// role assignments. Deployed by main.bicep into its games resource group; to
// let the same app manage groups in another resource group, deploy it there too:
//
//   az deployment group create -g <other games rg> -f deploy/azure/access.bicep -p principalId=<identity principal id>
//
// The ARM calls and the action each needs:
//   GET    .../containerGroups/{name}                    containerGroups/read     (Details, Monitor, reconcile, Power observe)
//   PUT    .../containerGroups/{name}                    containerGroups/write    (Create)
//   DELETE .../containerGroups/{name}                    containerGroups/delete   (Delete, GC)
//   GET    .../containerGroups/{name}/containers/{c}/logs containerGroups/containers/logs/read (Details' logs)
//   POST   .../containerGroups/{name}/start|stop|restart containerGroups/start|stop|restart/action (Power, schedules)
//   GET    /subscriptions/{sub}/providers/Microsoft.ContainerInstance/containerGroups (reconcile's list)
//          needs containerGroups/read; we expect ARM to answer it with the groups
//          of the resource groups this role covers (not checked on a live
//          subscription; a 403 there means reconcile needs that read at the
//          subscription).
// The polls of ARM's Azure-AsyncOperation URLs are subscription-scoped
// (/subscriptions/{sub}/providers/Microsoft.ContainerInstance/locations/{loc}/operations/{id}):
// operations.bicep grants that read at the subscription.
//
// Not granted, on purpose: a Create body whose group takes a user-assigned
// identity (needs Microsoft.ManagedIdentity/userAssignedIdentities/assign/action
// on it) or joins a subnet (Microsoft.Network/virtualNetworks/subnets/join/action)
// is refused by ARM with 403; grant those on that identity or subnet only.

@description('Principal (object) id of the Function App\'s user-assigned identity.')
param principalId string

var actions = [
  'Microsoft.ContainerInstance/containerGroups/read'
  'Microsoft.ContainerInstance/containerGroups/write'
  'Microsoft.ContainerInstance/containerGroups/delete'
  'Microsoft.ContainerInstance/containerGroups/containers/logs/read'
  'Microsoft.ContainerInstance/containerGroups/start/action'
  'Microsoft.ContainerInstance/containerGroups/stop/action'
  'Microsoft.ContainerInstance/containerGroups/restart/action'
]

// A custom role per games resource group, assignable only there: role names are
// unique per tenant, hence the suffix.
resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'gamefleet-container-groups')
  properties: {
    roleName: 'gamefleet container groups ${resourceGroup().name} ${take(uniqueString(resourceGroup().id), 6)}'
    description: 'gamefleet: create, read, delete, start, stop, restart container groups and read their logs in resource group ${resourceGroup().name}.'
    type: 'CustomRole'
    permissions: [
      {
        actions: actions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, role.id)
  properties: {
    principalId: principalId
    // ServicePrincipal: a managed identity; saves ARM the directory lookup
    // that fails right after the identity is created.
    principalType: 'ServicePrincipal'
    roleDefinitionId: role.id
    description: 'gamefleet Function App: container groups of this resource group'
  }
}

output roleDefinitionId string = role.id
