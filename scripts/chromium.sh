#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the dashboard test (tests/api/dashboard.rs),
# from Debian's own packages (`chromium`, `chromium-driver`).
#
#   scripts/chromium.sh install   apt-get install them if /usr/bin/chromium or
#                                 /usr/bin/chromedriver is missing (fast no-op otherwise)
#
# The test finds them at /usr/bin/chromium and /usr/bin/chromedriver, or at
# GAMEFLEET_CHROMIUM / GAMEFLEET_CHROMEDRIVER when those are set.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver

usage() {
    echo "usage: $0 install" >&2
    exit 2
}

install() {
    if [[ -x "$CHROMIUM" && -x "$CHROMEDRIVER" ]]; then
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "chromium.sh: apt-get not found; install chromium and chromedriver yourself" \
            "and set GAMEFLEET_CHROMIUM / GAMEFLEET_CHROMEDRIVER" >&2
        exit 1
    fi
    local sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "chromium.sh: not root and sudo not found" >&2
            exit 1
        fi
        sudo=(sudo)
    fi
    echo "chromium.sh: installing chromium and chromium-driver with apt-get" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends chromium chromium-driver >&2
}

case "${1:-}" in
install) install ;;
*) usage ;;
esac
