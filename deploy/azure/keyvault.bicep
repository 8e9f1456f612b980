// The session-token signing keys as a Key Vault secret, readable by the app's
// identity only (Key Vault Secrets User on this vault). Deployed by main.bicep
// when sessionTokenKeys is given; the app reads the secret through a Key Vault
// reference in SESSION_TOKEN_KEYS (keyVaultReferenceIdentity = the identity).

@description('Vault name (3-24 letters, digits, hyphens; globally unique).')
param name string

param location string = resourceGroup().location
param tags object = {}

@description('Principal (object) id of the identity that reads the secret.')
param readerPrincipalId string

@description('Secret name.')
param secretName string

@description('SESSION_TOKEN_KEYS: id:base64secret[,id:base64secret].')
@secure()
param sessionTokenKeys string

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

// RBAC (no access policies); soft delete and purge protection: a deleted vault
// or secret stays recoverable, and cannot be purged, for 90 days.
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: Flex Consumption cannot resolve Key Vault references to a vault whose network access is restricted, even with VNet integration (Flex plan docs, Considerations), so the firewall stays open; access is by RBAC, one role (Key Vault Secrets User) for one identity.
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109: a Key Vault reference in a Flex Consumption app setting needs the vault's public network access.
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
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: no expiry date on purpose: an expired secret no longer resolves, which would stop every game server's reports on a date nobody watches; keys are rotated by putting a new key first (README, ReportSessions), not by expiry.
  parent: vault
  name: secretName
  properties: {
    value: sessionTokenKeys
    contentType: 'text/plain'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, readerPrincipalId, keyVaultSecretsUser)
  properties: {
    principalId: readerPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
  }
}

// Without a version: the reference follows the secret's current version.
output secretUri string = '${vault.properties.vaultUri}secrets/${secret.name}/'
