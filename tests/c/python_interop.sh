#!/usr/bin/env bash
# Interop: Python's websockets client (an implementation nobody here wrote) against the
# C example echo server built from luna.h alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=build/venv/bin/python
[ -x "$PY" ] || { echo "FAIL: $PY missing: run 'make setup' (tests/setup.sh)"; exit 1; }
[ -x build/echo_server ] || { echo "FAIL: build/echo_server missing: run 'make'"; exit 1; }

out=$(mktemp); trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
timeout 60 build/echo_server 127.0.0.1 0 chat superchat >"$out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$out" && break; sleep 0.05; done
port=$(awk '/listening on/ {print $3}' "$out")
[ -n "$port" ] || { echo "FAIL: echo_server did not start"; cat "$out"; exit 1; }

timeout 60 "$PY" tests/c/echo_peer.py "$port"

# SIGTERM twice, as GNU timeout sends it (to the process and to its group), the second
# while the example is still in luna_app_wait: it stops cleanly, frees the app, says "bye".
server=$(pgrep -P "$pid" -x echo_server)
kill -TERM "$server"; sleep 0.02; kill -TERM "$server" 2>/dev/null || true
status=0; wait "$pid" || status=$?
if [ "$status" -ne 0 ] || ! grep -q '^bye$' "$out"; then
    echo "FAIL: echo_server did not stop cleanly on SIGTERM (exit $status)"; cat "$out"; exit 1
fi
echo "echo_server: clean stop on a repeated SIGTERM"
