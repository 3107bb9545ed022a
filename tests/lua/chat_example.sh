#!/usr/bin/env bash
# examples/chat/server.lua: two clients with subprotocol "chat" both receive every message.
set -uo pipefail
cd "$(dirname "$0")/../.."
command -v luajit >/dev/null || { echo "chat_example: luajit is not installed" >&2; exit 1; }
py=build/venv/bin/python
[ -x $py ] || { echo "chat_example: $py missing (run tests/setup.sh)" >&2; exit 1; }
: "${LUNA_LIB:=$PWD/target/release/libluna.so}"
export LUNA_LIB
log=$(mktemp)
luajit examples/chat/server.lua 0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 50); do grep -q "listening on" "$log" && break; sleep 0.1; done
port=$(sed -n 's|.*listening on ws://127.0.0.1:\([0-9]*\).*|\1|p' "$log")
[ -n "$port" ] || { echo "chat_example: server did not start:"; cat "$log"; exit 1; }
grep -q "open .*index.html?port=$port" "$log" || { echo "chat_example: no 'open' hint:"; cat "$log"; exit 1; }
timeout 20 $py - "$port" <<'PY'
import sys, warnings
warnings.simplefilter("ignore")
from websockets.sync.client import connect
url = "ws://127.0.0.1:%s" % sys.argv[1]
with connect(url, subprotocols=["chat"]) as a, connect(url, subprotocols=["chat"]) as b:
    assert a.subprotocol == "chat", a.subprotocol
    a.recv(timeout=5)                      # "* guestN joined" (a's own)
    joined = a.recv(timeout=5)             # b joined
    assert joined.endswith("joined"), joined
    b.recv(timeout=5)
    a.send("hello room")
    got_a, got_b = a.recv(timeout=5), b.recv(timeout=5)
    assert got_a == got_b and got_a.endswith(": hello room"), (got_a, got_b)
print("chat_example: passed")
PY
