#!/usr/bin/env bash
# Builds a deployment package from the release binary, for one runtime:
#
#   deploy/package.sh [functions]   dist/gamefleet-functionapp.zip: host.json,
#                                   functions/*/function.json and `gamefleet` at
#                                   its root (host.json's defaultExecutablePath)
#   deploy/package.sh lambda        dist/gamefleet-lambda.zip: `bootstrap` at its
#                                   root (AWS Lambda, provided.al2023)
#   deploy/package.sh functiongraph dist/gamefleet-functiongraph.zip: `bootstrap`
#                                   at its root (FunctionGraph custom runtime)
#
#   az functionapp deployment source config-zip -g <rg> -n <app> --src dist/gamefleet-functionapp.zip
#                                   (on Flex Consumption this is a one-deploy to the
#                                   app's deployment container)
#   sam deploy -t deploy/aws/template.yaml --guided      (after `deploy/package.sh lambda`)
#
# The binary is built for the machine's target (x86_64 Linux, glibc). It needs
# the glibc of the machine it was built on or newer: the old Linux Consumption
# images are Debian 12 (glibc 2.36); Flex Consumption's glibc is not documented
# in what we read, so `azd up` builds a static musl binary instead
# (deploy/azure/azd-package.sh, GAMEFLEET_TARGET=x86_64-unknown-linux-musl;
# do the same for a plain zip deploy to Flex); provided.al2023 has glibc 2.34, and
# FunctionGraph's custom runtime is EulerOS 2.x (glibc 2.28 — build it on
# Debian 10 / RHEL 8 or older, or with `--target x86_64-unknown-linux-musl`
# when that target is installed: GAMEFLEET_TARGET=x86_64-unknown-linux-musl).
# Every executable keeps its 755 bit in the zip (Lambda and FunctionGraph
# refuse a bootstrap that is not executable).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

kind="${1:-functions}"
target="${GAMEFLEET_TARGET:-}"
build=(cargo build --release --locked --bin gamefleet)
bin=target/release/gamefleet
if [[ -n "$target" ]]; then
    build+=(--target "$target")
    bin="target/$target/release/gamefleet"
fi

stage="dist/$kind"
case "$kind" in
    functions)
        "${build[@]}"
        rm -rf "$stage" && mkdir -p "$stage"
        cp host.json "$stage/"
        cp -r functions/. "$stage/"
        cp "$bin" "$stage/gamefleet"
        zip="dist/gamefleet-functionapp.zip"
        ;;
    lambda | functiongraph)
        "${build[@]}"
        rm -rf "$stage" && mkdir -p "$stage"
        cp "$bin" "$stage/bootstrap"
        zip="dist/gamefleet-$kind.zip"
        ;;
    *)
        echo "usage: deploy/package.sh [functions|lambda|functiongraph]" >&2
        exit 2
        ;;
esac

python3 - "$stage" "$zip" <<'PY'
import os, sys, zipfile
root, out = sys.argv[1], sys.argv[2]
executables = {"gamefleet", "bootstrap"}
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for dirpath, _, files in os.walk(root):
        for f in sorted(files):
            path = os.path.join(dirpath, f)
            info = zipfile.ZipInfo.from_file(path, os.path.relpath(path, root))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if f in executables else 0o644) << 16
            with open(path, "rb") as fh:
                z.writestr(info, fh.read())
print(out + ":", os.path.getsize(out), "bytes")
PY
