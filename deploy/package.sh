#!/usr/bin/env bash
# Builds the Functions package: dist/gamefleet-functionapp.zip with host.json,
# functions/*/function.json and the release binary `gamefleet` at its root
# (host.json's defaultExecutablePath), executable bit kept.
#
#   deploy/package.sh
#   az functionapp deployment source config-zip -g <rg> -n <app> --src dist/gamefleet-functionapp.zip
#
# The binary is built for the machine's target (x86_64 Linux, glibc). The Azure
# Functions Linux images are Debian 12 based; build on Debian 12 or older.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release --locked --bin gamefleet
rm -rf dist/functionapp
mkdir -p dist/functionapp
cp host.json dist/functionapp/
cp -r functions/. dist/functionapp/
cp target/release/gamefleet dist/functionapp/gamefleet
python3 - <<'PY'
import os, zipfile
root = "dist/functionapp"
with zipfile.ZipFile("dist/gamefleet-functionapp.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for dirpath, _, files in os.walk(root):
        for f in sorted(files):
            path = os.path.join(dirpath, f)
            info = zipfile.ZipInfo.from_file(path, os.path.relpath(path, root))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if f == "gamefleet" else 0o644) << 16
            with open(path, "rb") as fh:
                z.writestr(info, fh.read())
print("dist/gamefleet-functionapp.zip:", os.path.getsize("dist/gamefleet-functionapp.zip"), "bytes")
PY
