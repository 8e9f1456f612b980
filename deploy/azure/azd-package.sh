#!/usr/bin/env bash
# azd's prepackage hook (azure.yaml): builds gamefleet as a static binary
# (x86_64-unknown-linux-musl) and stages the Functions package in
# dist/functions, the folder azure.yaml's `dist` names.
#
# Static, because which glibc the Flex Consumption workers have is not
# documented in what we could read (the old Linux Consumption images are
# Debian 12, glibc 2.36; this repository's binaries are built on Debian 12): a
# musl binary needs no glibc at all. ring (TLS, via rustls) compiles C, so the
# musl target needs a musl C compiler: `apt-get install musl-tools` (Debian,
# Ubuntu) gives musl-gcc, which the cc crate uses for this target.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

target="${GAMEFLEET_TARGET:-x86_64-unknown-linux-musl}"
if [[ "$target" == *-musl ]]; then
    if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
        rustup target add "$target"
    fi
    if ! command -v musl-gcc >/dev/null && ! command -v x86_64-linux-musl-gcc >/dev/null; then
        echo "azd-package: the $target build needs a musl C compiler (ring): apt-get install musl-tools" >&2
        exit 1
    fi
fi
GAMEFLEET_TARGET="$target" deploy/package.sh functions
