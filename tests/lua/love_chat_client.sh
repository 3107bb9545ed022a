#!/usr/bin/env bash
# examples/love-chat-client in LÖVE under xvfb against examples/chat/server.lua: a Python
# websockets client joins on subprotocol "chat"; the LÖVE client joins and sends a line
# typed through its own input handlers (LUNA_CHAT_SAY), which Python receives as a
# broadcast; Python then sends a message and the LÖVE client must print its broadcast.
set -uo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "love_chat_client: FAIL: $*" >&2; exit 1; }
for tool in love xvfb-run luajit timeout setsid; do
    command -v $tool >/dev/null || fail "$tool is not installed (run tests/setup.sh)"
done
py=build/venv/bin/python
[ -x $py ] || fail "$py missing (run tests/setup.sh)"
$py -c 'import websockets' 2>/dev/null || fail "the Python package websockets is missing in build/venv (run tests/setup.sh)"
: "${LUNA_LIB:=$PWD/target/release/libluna.so}"
[ -f "$LUNA_LIB" ] || fail "library $LUNA_LIB not built (run make)"
export LUNA_LIB

tmp=$(mktemp -d)
srv_pid= love_pid= py_pid=
cleanup() {
    [ -n "$py_pid" ] && kill "$py_pid" 2>/dev/null
    [ -n "$love_pid" ] && { kill -- -"$love_pid" 2>/dev/null; sleep 0.5; kill -9 -- -"$love_pid" 2>/dev/null; }
    [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
dump() { for f in server python love; do echo "--- $f output"; cat "$tmp/$f.log" 2>/dev/null; done; }
# wait_for FILE REGEX SECONDS [PID]: until FILE has a line matching REGEX (PID still alive).
wait_for() {
    local i
    for ((i = 0; i < $3 * 5; i++)); do
        grep -qE "$2" "$1" 2>/dev/null && return 0
        [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && break
        sleep 0.2
    done
    grep -qE "$2" "$1" 2>/dev/null
}

timeout 120 luajit examples/chat/server.lua 0 >"$tmp/server.log" 2>&1 &
srv_pid=$!
wait_for "$tmp/server.log" 'listening on ws://127\.0\.0\.1:[0-9]+' 20 "$srv_pid" ||
    { dump; fail "the chat server did not start"; }
port=$(sed -n 's/.*listening on ws:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/server.log" | head -1)

token="t$$-$RANDOM"
# The Python peer: joins, waits for the LÖVE client's line, then sends its own and waits
# for that broadcast (so the LÖVE client, which joined earlier, was sent it as well).
timeout 90 $py - "$port" "$token" >"$tmp/python.log" 2>&1 <<'PY' &
import asyncio, re, sys
import websockets

port, token = int(sys.argv[1]), sys.argv[2]

async def until(ws, pattern, what):
    while True:
        msg = await asyncio.wait_for(ws.recv(), 60)
        print("python got:", msg, flush=True)
        if re.fullmatch(pattern, msg):
            return msg
        if msg.startswith("* ") or msg.startswith("guest"):
            continue
        raise SystemExit(f"unexpected message while waiting for {what}: {msg!r}")

async def main():
    async with websockets.connect(f"ws://127.0.0.1:{port}", subprotocols=["chat"]) as ws:
        if ws.subprotocol != "chat":
            raise SystemExit(f"subprotocol {ws.subprotocol!r}, expected 'chat'")
        print("python joined", flush=True)
        await until(ws, r"guest\d+: hello from love " + re.escape(token), "the LÖVE client's line")
        print("python saw love", flush=True)
        await ws.send("hello from python " + token)
        await until(ws, r"guest\d+: hello from python " + re.escape(token), "its own broadcast")
        print("python done", flush=True)

asyncio.run(main())
PY
py_pid=$!
wait_for "$tmp/python.log" '^python joined$' 30 "$py_pid" || { dump; fail "the Python client did not join"; }

LUNA_CHAT_SAY="hello from love $token" setsid timeout -k 5 100 \
    xvfb-run -a love examples/love-chat-client "$port" >"$tmp/love.log" 2>&1 &
love_pid=$!

wait "$py_pid"; rc=$?; py_pid=
[ $rc -eq 0 ] || { dump; fail "the Python client failed (exit $rc; 124 = timed out)"; }
wait_for "$tmp/love.log" "^< guest[0-9]+: hello from python $token\$" 20 "$love_pid" ||
    { dump; fail "the LÖVE client did not print the Python client's broadcast"; }
grep -qE "^connected ws://127\.0\.0\.1:$port\$" "$tmp/love.log" ||
    { dump; fail "the LÖVE client did not print its connection"; }
grep -qE "^< guest[0-9]+: hello from love $token\$" "$tmp/love.log" ||
    { dump; fail "the LÖVE client did not print the broadcast of its own line"; }
dump
echo "love_chat_client: passed"
