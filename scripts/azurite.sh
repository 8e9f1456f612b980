#!/usr/bin/env bash
# Azurite (Table Storage emulator) for local runs and tests, installed from
# tools/package.json (pinned azurite 3.35.0: the newest release that runs on Node 20).
#
#   scripts/azurite.sh install        npm ci into tools/node_modules (only if missing)
#   scripts/azurite.sh start [port]   start the table service in memory (default port 10002),
#                                     log .local/azurite.log, pid .local/azurite.pid; prints the port
#   scripts/azurite.sh stop           stop the instance started by `start`
#
# Tests pick up a running instance through
#   GAMEFLEET_TEST_TABLE_ENDPOINT=http://127.0.0.1:<port>/devstoreaccount1
# and otherwise start their own (tests/simulator/src/azurite.rs).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/tools"
BIN="$TOOLS/node_modules/.bin/azurite-table"
STATE="$ROOT/.local"
PIDFILE="$STATE/azurite.pid"
LOGFILE="$STATE/azurite.log"
DEFAULT_PORT=10002
READY_TIMEOUT_TENTHS=200 # 20 s

usage() {
    echo "usage: $0 install | start [port] | stop" >&2
    exit 2
}

install() {
    if [[ -x "$BIN" ]]; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        echo "azurite.sh: npm not found; install Node.js 20+ first" >&2
        exit 1
    fi
    echo "azurite.sh: installing azurite into tools/node_modules" >&2
    npm ci --prefix "$TOOLS" --no-audit --no-fund >&2
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

running_pid() {
    if [[ -f "$PIDFILE" ]]; then
        local pid
        pid="$(cat "$PIDFILE")"
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            echo "$pid"
            return 0
        fi
    fi
    return 1
}

start() {
    local port="${1:-$DEFAULT_PORT}"
    if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
        echo "azurite.sh: invalid port: $port" >&2
        exit 2
    fi
    install
    mkdir -p "$STATE"
    local pid
    if pid="$(running_pid)"; then
        echo "azurite.sh: already running (pid $pid); run '$0 stop' first" >&2
        exit 1
    fi
    if port_open "$port"; then
        echo "azurite.sh: port $port is already in use" >&2
        exit 1
    fi
    nohup "$BIN" --tableHost 127.0.0.1 --tablePort "$port" --inMemoryPersistence \
        --disableTelemetry --silent >"$LOGFILE" 2>&1 &
    pid=$!
    echo "$pid" >"$PIDFILE"
    local i
    for ((i = 0; i < READY_TIMEOUT_TENTHS; i++)); do
        if port_open "$port"; then
            echo "$port"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "azurite.sh: azurite exited during start; see $LOGFILE:" >&2
            tail -n 20 "$LOGFILE" >&2 || true
            rm -f "$PIDFILE"
            exit 1
        fi
        sleep 0.1
    done
    echo "azurite.sh: azurite did not listen on port $port within 20 s; see $LOGFILE" >&2
    kill "$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
    exit 1
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$PIDFILE"
        echo "azurite.sh: not running" >&2
        return 0
    fi
    kill "$pid"
    local i
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
}

case "${1:-}" in
install) install ;;
start)
    shift
    start "$@"
    ;;
stop) stop ;;
*) usage ;;
esac
