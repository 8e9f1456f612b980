#!/usr/bin/env bash
# Deploys events.bicep (Event Grid → Monitor) into the games resource group,
# after the code: Event Grid refuses a subscription to a function that does not
# exist yet. The values come from main.bicep's outputs: from the environment
# (azd passes its environment to hooks: azure.yaml's postdeploy), or else from
# the main deployment in the app's resource group.
#
#   deploy/azure/events.sh <app resource group> [main deployment name, default: main]
#
# Needs the Azure CLI, logged in (az login) to the app's subscription.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

output() {
    az deployment group show -g "$app_rg" -n "$deployment" \
        --query "properties.outputs.$1.value" -o tsv
}

if [[ -z "${GAMEFLEET_FUNCTION_APP_ID:-}" ]]; then
    app_rg="${1:?usage: deploy/azure/events.sh <app resource group> [deployment name]}"
    deployment="${2:-main}"
    GAMEFLEET_FUNCTION_APP_ID="$(output GAMEFLEET_FUNCTION_APP_ID)"
    GAMEFLEET_GAMES_RESOURCE_GROUP="$(output GAMEFLEET_GAMES_RESOURCE_GROUP)"
    GAMEFLEET_STORAGE_ACCOUNT_ID="$(output GAMEFLEET_STORAGE_ACCOUNT_ID)"
    GAMEFLEET_DEADLETTER_CONTAINER="$(output GAMEFLEET_DEADLETTER_CONTAINER)"
fi

az deployment group create \
    -g "$GAMEFLEET_GAMES_RESOURCE_GROUP" \
    -n gamefleet-events \
    -f events.bicep \
    -p functionAppId="$GAMEFLEET_FUNCTION_APP_ID" \
       deadLetterStorageAccountId="$GAMEFLEET_STORAGE_ACCOUNT_ID" \
       deadLetterContainer="$GAMEFLEET_DEADLETTER_CONTAINER" \
    --query 'properties.outputs' -o json
