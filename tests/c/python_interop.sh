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

timeout 60 "$PY" - "$port" <<'PY'
import asyncio, sys
import websockets

PORT = int(sys.argv[1])
URL = f"ws://127.0.0.1:{PORT}"
passed = failed = 0

def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name} {detail}")

async def main():
    async with websockets.connect(URL, subprotocols=["nope", "superchat", "chat"], max_size=None) as ws:
        check("subprotocol: client order", ws.subprotocol == "superchat", ws.subprotocol)
        for msg in ["hello", "", "ünïcödé 🌙", b"\x00\xff" * 10, b"", bytes(range(256)) * 4096]:
            await ws.send(msg)
            back = await ws.recv()
            check(f"echo {type(msg).__name__} {len(msg)}", back == msg)
        big = b"\xab" * (16 * 1024 * 1024 - 64)
        await ws.send(big)
        check("echo 16 MiB", await ws.recv() == big)
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        check("ping answered", True)
        await ws.close(4001, "interop done")
        check("close code echoed", ws.close_code == 4001, ws.close_code)
    # many clients at once
    async def one(i):
        async with websockets.connect(URL) as ws:
            for j in range(20):
                await ws.send(f"{i}:{j}")
                if await ws.recv() != f"{i}:{j}":
                    return False
            return True
    results = await asyncio.gather(*(one(i) for i in range(100)))
    check("100 concurrent python clients", all(results))
    # fragmented message from a real implementation
    async with websockets.connect(URL) as ws:
        await ws.send(iter(["frag", "mented", " text"]))
        check("fragmented message reassembled", await ws.recv() == "fragmented text")

asyncio.run(main())
print(f"python interop: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY

# SIGTERM twice, as GNU timeout sends it (to the process and to its group), the second
# while the example is still in luna_app_wait: it stops cleanly, frees the app, says "bye".
server=$(pgrep -P "$pid" -x echo_server)
kill -TERM "$server"; sleep 0.02; kill -TERM "$server" 2>/dev/null || true
status=0; wait "$pid" || status=$?
if [ "$status" -ne 0 ] || ! grep -q '^bye$' "$out"; then
    echo "FAIL: echo_server did not stop cleanly on SIGTERM (exit $status)"; cat "$out"; exit 1
fi
echo "echo_server: clean stop on a repeated SIGTERM"
