#!/bin/sh
# A game server's session reporter, written the way the original project's
# images do it (docker_openarena's stdoutprocessor.sh, docker-teeworlds): read
# the server's log on stdin, count joins and leaves, and after each change POST
# the original's array body to the URL the container was given, with plain
# curl or wget and no other header. Usage: reporter.sh curl|wget < log
set -u
client="${1:-curl}"
url="${ACI_SET_SESSIONS_URL:-${SET_SESSIONS_URL:-}}"
connected=0
while IFS= read -r line; do
    echo "$line"
    case "$line" in
        *ClientBegin:*) connected=$((connected + 1)) ;;
        *ClientDisconnect:*) connected=$((connected - 1)) ;;
        *) continue ;;
    esac
    body="[{\"resourceGroup\":\"$RESOURCE_GROUP\", \"containerGroupName\":\"$CONTAINER_GROUP_NAME\", \"activeSessions\":$connected}]"
    if [ "$client" = wget ]; then
        wget -q -O- --post-data="$body" "$url" || echo "report failed" >&2
    else
        curl -s -X POST -d "$body" "$url" || echo "report failed" >&2
    fi
    echo
done
