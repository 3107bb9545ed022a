#!/usr/bin/env bash
# The seed's example, unchanged, in LÖVE under xvfb: two Python clients see ~10 numbers a
# second each, `reset` resets only its sender, a disconnect leaves the other counting, and
# LÖVE prints the example's lines. The example hard-codes port 12345: it must be free.
set -uo pipefail
cd "$(dirname "$0")/../.."
for tool in love xvfb-run; do
    command -v $tool >/dev/null || { echo "love_counter: $tool is not installed (run tests/setup.sh)" >&2; exit 1; }
done
py=build/venv/bin/python
[ -x $py ] || { echo "love_counter: $py missing (run tests/setup.sh)" >&2; exit 1; }
: "${LUNA_LIB:=$PWD/target/release/libluna.so}"
[ -f "$LUNA_LIB" ] || { echo "love_counter: library $LUNA_LIB not built (run make)" >&2; exit 1; }
export LUNA_LIB
head -1 examples/love-counter/main.lua | grep -qx -- '-- Initializing Luna for web applications' &&
    grep -qF 'luna = require("luna.init")' examples/love-counter/main.lua ||
    { echo "love_counter: examples/love-counter/main.lua is not the seed example" >&2; exit 1; }

PORT=12345
if ! $py -c "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', $PORT))" 2>/dev/null; then
    echo "love_counter: port $PORT (hard-coded in the seed example) is in use; free it and re-run" >&2
    exit 1
fi

log=$(mktemp)
setsid xvfb-run -a love examples/love-counter >"$log" 2>&1 &
pid=$!
cleanup() { kill -- -"$pid" 2>/dev/null; sleep 0.5; kill -9 -- -"$pid" 2>/dev/null; rm -f "$log"; }
trap cleanup EXIT

for _ in $(seq 100); do
    grep -q "listening on \* port $PORT" "$log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
done
if ! grep -q "listening on \* port $PORT" "$log"; then
    echo "love_counter: LÖVE did not start listening; its output:" >&2; cat "$log" >&2; exit 1
fi

out=$(timeout 30 $py tests/lua/peers/love_counter_client.py $PORT 2>&1); rc=$?
echo "$out"
sleep 0.5
echo "--- LÖVE output"; cat "$log"
fail=$rc
a_port=$(echo "$out" | sed -n 's/^a_port \([0-9]*\) b_port \([0-9]*\)$/\1/p')
b_port=$(echo "$out" | sed -n 's/^a_port \([0-9]*\) b_port \([0-9]*\)$/\2/p')
expect() { grep -qE "$1" "$log" || { echo "FAIL LÖVE output lacks: $1"; fail=1; }; }
expect "^New client ip: 127\.0\.0\.1 port: ${a_port:-none}\$"
expect "^New client ip: 127\.0\.0\.1 port: ${b_port:-none}\$"
expect "^Raw socket type: table\$"
[ "$(grep -cE '^ws ws#[0-9]+\(127\.0\.0\.1:[0-9]+\) on_close\.$' "$log")" -eq 2 ] ||
    { echo "FAIL LÖVE output should have 2 'ws ... on_close.' lines"; fail=1; }
[ $fail -eq 0 ] && echo "love_counter: passed"
exit $fail
