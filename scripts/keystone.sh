#!/usr/bin/env bash
# A real OpenStack Keystone (PyPI `keystone` 30.0.0) on 127.0.0.1 for the OpenStack
# tests: SQLite database, Fernet tokens, gunicorn, all under one state directory.
# The Nova simulator (tests/simulator/src/nova) validates every token against it,
# and the Keystone fixture helpers (tests/simulator/src/keystone.rs) create the
# regions, endpoints, projects, users and application credentials the tests use.
#
#   scripts/keystone.sh up       install (only if missing), configure, bootstrap (only
#                                if no database), start (only if not running), wait
#   scripts/keystone.sh down     stop the server started by `up`
#   scripts/keystone.sh status   exit 0 if it answers, 1 otherwise
#   scripts/keystone.sh env      print the env file (`. "$(scripts/keystone.sh envfile)"`)
#   scripts/keystone.sh envfile  print the path of the env file
#
# Environment (all optional):
#   KS_DIR             state dir: venv, conf, keys, db, logs   (default <repo>/.local/keystone)
#   KS_PORT            listen port on 127.0.0.1                (default 5055)
#   KS_ADMIN_PASSWORD  bootstrap password of user "admin"      (default admin-secret)
#   KS_PYTHON          python used to make the venv            (default python3, >= 3.10)
#   KS_FRESH=1         wipe db/keys/conf (keeps the venv) before `up`
#
# `up` writes $KS_DIR/env: OS_AUTH_URL, OS_USERNAME, ... (an openrc for the admin) and
# KEYSTONE_URL, KEYSTONE_ADMIN_USER, KEYSTONE_ADMIN_PASSWORD, KEYSTONE_ADMIN_PROJECT
# (what the tests read; without them the tests read this file at the default KS_DIR).
#
# Needs: python3 >= 3.10 with venv + pip, curl, and PyPI. Every package is a wheel
# (no compiler, no -dev package). The versions are pinned in
# tools/keystone/constraints.txt (a tested `pip freeze`; OpenStack's own
# upper-constraints file is not reachable from CI); changing that file makes the next
# `up` rebuild the venv.
#
# Measured 2026-12 on Debian 12, Python 3.11.7, 2 cores shared with 3 other cargo builds:
#   cold `up` (empty KS_DIR): 110 s = pip 79 s + db_sync/keys/bootstrap 26 s + start 5 s
#                             (the same steps took ~35 s on the idle box)
#   warm `up` (venv and database kept, server stopped): 4.2-6.1 s
#   `up` while already running: 0.1 s
#   RSS about 160 MiB; the 14 Nova simulator tests take ~45 s against it.
# Pitfalls handled below: oslo.config reads sys.argv (the WSGI wrapper), gunicorn 27's
# control socket (--no-control-socket), bcrypt cost (4 rounds, test-only), threads (1).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONSTRAINTS="$ROOT/tools/keystone/constraints.txt"
KEYSTONE_VERSION=30.0.0
GUNICORN_VERSION=27.0.1

KS_DIR=${KS_DIR:-$ROOT/.local/keystone}
KS_PORT=${KS_PORT:-5055}
KS_ADMIN_PASSWORD=${KS_ADMIN_PASSWORD:-admin-secret}
KS_PYTHON=${KS_PYTHON:-python3}
KS_URL="http://127.0.0.1:${KS_PORT}/v3"
VENV="$KS_DIR/venv"
PIDFILE="$KS_DIR/gunicorn.pid"
ENVFILE="$KS_DIR/env"
export PYTHONWARNINGS=ignore                # eventlet/oslo deprecation noise on every command
export OS_KEYSTONE_CONFIG_DIR="$KS_DIR/etc" # read by keystone.server.flask.core
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf 'keystone.sh: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

# What the venv was built from: rebuilt when the pins change.
stamp() { { echo "$KEYSTONE_VERSION $GUNICORN_VERSION"; cat "$CONSTRAINTS"; } | sha256sum | cut -c1-16; }

check_tools() {
    command -v curl >/dev/null || die "curl not found"
    command -v "$KS_PYTHON" >/dev/null || die "$KS_PYTHON not found (set KS_PYTHON to a python >= 3.10)"
    "$KS_PYTHON" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' 2>/dev/null ||
        die "$KS_PYTHON must be >= 3.10 with the venv and ensurepip modules (Debian: apt-get install python3-venv)"
}

install() {
    local want
    want=$(stamp)
    if [[ -x "$VENV/bin/keystone-manage" && -x "$VENV/bin/gunicorn" && "$(cat "$VENV/.gamefleet-stamp" 2>/dev/null)" == "$want" ]]; then
        return
    fi
    check_tools
    local t0
    t0=$(now)
    rm -rf "$VENV"
    mkdir -p "$KS_DIR"
    log "installing keystone $KEYSTONE_VERSION into $VENV (pinned by tools/keystone/constraints.txt)"
    "$KS_PYTHON" -m venv "$VENV"
    PIP_NO_CACHE_DIR=1 "$VENV/bin/pip" install -q -c "$CONSTRAINTS" \
        "keystone==$KEYSTONE_VERSION" "gunicorn==$GUNICORN_VERSION" >&2
    echo "$want" >"$VENV/.gamefleet-stamp"
    log "installed in $(since "$t0") s ($(du -sh "$VENV" | cut -f1))"
}

configure() {
    mkdir -p "$KS_DIR/etc" "$KS_DIR/fernet-keys" "$KS_DIR/credential-keys"
    cat >"$KS_DIR/etc/keystone.conf" <<EOF
[DEFAULT]
use_stderr = false
log_file = $KS_DIR/keystone.log
[database]
connection = sqlite:///$KS_DIR/keystone.db
[token]
provider = fernet
expiration = 3600
[fernet_tokens]
key_repository = $KS_DIR/fernet-keys
[fernet_receipts]
key_repository = $KS_DIR/fernet-keys
[credential]
key_repository = $KS_DIR/credential-keys
[identity]
# test-only: cheap bcrypt (the default 12 rounds cost ~0.25 s per password auth);
# applies to hashes made after it is set, so it is written before bootstrap.
password_hash_rounds = 4
# bcrypt reads 72 bytes anyway; avoids a warning on every hash
max_password_length = 72
EOF
    # oslo.config parses sys.argv inside the app: gunicorn's own flags would make every
    # worker die with "unrecognized arguments" (and gunicorn re-fork it forever).
    cat >"$KS_DIR/keystone_wsgi.py" <<'EOF'
import sys
sys.argv = sys.argv[:1]
from keystone.wsgi.api import application  # noqa: E402,F401
EOF
}

bootstrap() {
    [[ -f "$KS_DIR/keystone.db" ]] && return
    local km=("$VENV/bin/keystone-manage" --config-file "$KS_DIR/etc/keystone.conf")
    local me grp t0
    me=$(id -un)
    grp=$(id -gn)
    t0=$(now)
    {
        "${km[@]}" db_sync &&
            "${km[@]}" fernet_setup --keystone-user "$me" --keystone-group "$grp" &&
            "${km[@]}" credential_setup --keystone-user "$me" --keystone-group "$grp" &&
            "${km[@]}" bootstrap \
                --bootstrap-username admin \
                --bootstrap-password "$KS_ADMIN_PASSWORD" \
                --bootstrap-project-name admin \
                --bootstrap-role-name admin \
                --bootstrap-service-name keystone \
                --bootstrap-region-id RegionOne \
                --bootstrap-public-url "$KS_URL" \
                --bootstrap-internal-url "$KS_URL" \
                --bootstrap-admin-url "$KS_URL"
    } >>"$KS_DIR/manage.log" 2>&1 || {
        tail -n 30 "$KS_DIR/manage.log" >&2
        rm -f "$KS_DIR/keystone.db"
        die "bootstrap failed; see $KS_DIR/manage.log"
    }
    log "db_sync + keys + bootstrap in $(since "$t0") s"
}

write_env() {
    cat >"$ENVFILE" <<EOF
export OS_AUTH_URL=$KS_URL
export OS_IDENTITY_API_VERSION=3
export OS_AUTH_TYPE=password
export OS_USERNAME=admin
export OS_PASSWORD=$KS_ADMIN_PASSWORD
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_ID=default
export OS_PROJECT_DOMAIN_ID=default
export OS_REGION_NAME=RegionOne
export KEYSTONE_URL=$KS_URL
export KEYSTONE_ADMIN_USER=admin
export KEYSTONE_ADMIN_PASSWORD=$KS_ADMIN_PASSWORD
export KEYSTONE_ADMIN_PROJECT=admin
EOF
}

running_pid() {
    local pid
    [[ -f "$PIDFILE" ]] || return 1
    pid=$(cat "$PIDFILE")
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

answers() { curl -sf -o /dev/null --max-time 2 "$KS_URL"; }

start() {
    local pid
    if pid=$(running_pid) && answers; then
        log "already running at $KS_URL (pid $pid)"
        return
    fi
    if answers; then
        die "something else answers on port $KS_PORT (not the server of $KS_DIR); set KS_PORT"
    fi
    local t0
    t0=$(now)
    # setsid + no inherited stdio: the server outlives the calling shell.
    # One worker, one thread: with --threads 4, parallel test fixtures saw tokens with
    # roles the user did not have (application credential creation then failed with
    # "Could not find role assignment with role <manager>") and sporadic 500s.
    setsid "$VENV/bin/gunicorn" \
        --bind "127.0.0.1:$KS_PORT" --workers 1 --threads 1 --timeout 60 \
        --no-control-socket --pid "$PIDFILE" \
        --chdir "$KS_DIR" --pythonpath "$KS_DIR" \
        keystone_wsgi:application \
        >"$KS_DIR/gunicorn.log" 2>&1 </dev/null &
    pid=$!
    local i
    for ((i = 0; i < 600; i++)); do # up to 60 s
        if answers; then
            log "up at $KS_URL after $(since "$t0") s (pid $pid)"
            return
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$KS_DIR/gunicorn.log" >&2
            die "gunicorn exited during start; see $KS_DIR/gunicorn.log"
        fi
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    tail -n 30 "$KS_DIR/gunicorn.log" >&2
    die "no answer from $KS_URL within 60 s"
}

stop() {
    local pid
    if ! pid=$(running_pid); then
        rm -f "$PIDFILE"
        log "not running"
        return
    fi
    kill -TERM "$pid"
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored TERM, sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    log "stopped (pid $pid)"
}

up() {
    local t0
    t0=$(now)
    if [[ "${KS_FRESH:-0}" == 1 ]]; then
        stop
        rm -rf "$KS_DIR/etc" "$KS_DIR/fernet-keys" "$KS_DIR/credential-keys" "$KS_DIR/keystone.db"
    fi
    install
    configure
    bootstrap
    start
    write_env
    log "ready in $(since "$t0") s; env: $ENVFILE"
}

case "${1:-}" in
up) up ;;
down) stop ;;
status)
    if answers; then log "up at $KS_URL"; else
        log "down ($KS_URL)"
        exit 1
    fi
    ;;
env) cat "$ENVFILE" ;;
envfile) echo "$ENVFILE" ;;
*)
    echo "usage: $0 up | down | status | env | envfile" >&2
    exit 2
    ;;
esac
