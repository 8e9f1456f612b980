// Lets the Function App's identity create, read and delete container groups in
// this resource group (Contributor; narrow it with a custom role if you prefer:
// Microsoft.ContainerInstance/containerGroups/* is what gamefleet uses).
param principalId string

var contributor = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b24988ac-6180-42a0-ab88-20f7382dd24c')

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, contributor)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: contributor
  }
}
