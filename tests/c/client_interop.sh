#!/usr/bin/env bash
# Interop: the C example client (c-examples/client.c, built from luna.h alone) against
# servers nobody here wrote: Python's websockets and Node's ws, each echoing its messages.
# Also: a refused connection makes it fail with a message saying so.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=build/venv/bin/python
[ -x "$PY" ] || { echo "FAIL: $PY missing: run 'make setup' (tests/setup.sh)"; exit 1; }
command -v node >/dev/null || { echo "FAIL: node missing: run 'make setup' (tests/setup.sh)"; exit 1; }
[ -d build/node/node_modules/ws ] || { echo "FAIL: build/node/node_modules/ws missing: run tests/setup.sh"; exit 1; }
[ -x build/client ] || { echo "FAIL: build/client missing: run 'make'"; exit 1; }

tmp=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
failed=0

# Starts a peer (prints "PORT n") in the background; sets $port.
start_peer() {
    local name=$1; shift
    timeout -k 2 30 "$@" >"$tmp/$name.out" 2>&1 &
    pids+=($!)
    port=
    for _ in $(seq 200); do
        port=$(awk '/^PORT/ {print $2; exit}' "$tmp/$name.out" 2>/dev/null || true)
        [ -n "$port" ] && return 0
        sleep 0.05
    done
    echo "FAIL: $name peer did not start"; cat "$tmp/$name.out"; exit 1
}

check_echo() {
    local name=$1
    local out="$tmp/$name.client"
    if ! timeout 20 build/client "ws://127.0.0.1:$port/echo?q=1" "hello" "ünïcödé 🌙" "third one" >"$out" 2>&1; then
        echo "FAIL $name: client exited non-zero"; cat "$out"; failed=1; return
    fi
    local want
    want=$(printf '< hello\n< ünïcödé 🌙\n< third one')
    if [ "$(grep '^< ' "$out")" != "$want" ]; then
        echo "FAIL $name: echoes differ"; cat "$out"; failed=1; return
    fi
    grep -q "^closed 1000" "$out" || { echo "FAIL $name: no clean 1000 close"; cat "$out"; failed=1; return; }
    for _ in $(seq 100); do grep -q "^close 1000" "$tmp/$name.out" && break; sleep 0.05; done
    grep -q "^close 1000" "$tmp/$name.out" || { echo "FAIL $name: the server saw no 1000 close"; cat "$tmp/$name.out"; failed=1; return; }
    echo "ok   $name"
}

start_peer python "$PY" tests/lua/peers/ws_server.py echo
check_echo python
start_peer node env NODE_PATH=build/node/node_modules node tests/lua/peers/ws_server.js echo
check_echo node

# The Node peer has exited: nothing listens on its port, and the client says so.
wait "${pids[1]}" || true
if timeout 20 build/client "ws://127.0.0.1:$port/" x >"$tmp/refused" 2>&1; then
    echo "FAIL refused: the client exited 0"; cat "$tmp/refused"; failed=1
elif ! grep -q "connection refused" "$tmp/refused"; then
    echo "FAIL refused: no 'connection refused' message"; cat "$tmp/refused"; failed=1
else
    echo "ok   refused"
fi

[ $failed -eq 0 ] && echo "client interop: passed"
exit $failed
