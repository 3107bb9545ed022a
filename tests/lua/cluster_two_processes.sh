#!/usr/bin/env bash
# Two LuaJIT server processes joined through a real Redis (Debian's redis-server on a free
# port, no persistence), Python websockets clients on each: a publish on node A reaches the
# subscribers on both nodes exactly once and in order; a subscriber that never reads does not
# hold up the others; unsubscribe stops delivery; once every subscriber has gone, no node is
# subscribed in Redis any more.
set -uo pipefail
cd "$(dirname "$0")/../.."
py=build/venv/bin/python
for tool in luajit redis-server redis-cli; do
    command -v $tool >/dev/null || { echo "cluster_two_processes: $tool missing (run tests/setup.sh)"; exit 1; }
done
[ -x $py ] || { echo "cluster_two_processes: $py missing (run tests/setup.sh)"; exit 1; }
: "${LUNA_LIB:=$PWD/target/release/libluna.so}"
export LUNA_LIB
tmp=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
fail() { echo "cluster_two_processes: $1"; for f in "$tmp"/*.log; do echo "--- $f"; tail -20 "$f"; done; exit 1; }

redis_port=
for _ in $(seq 20); do
    p=$((20000 + RANDOM % 40000))
    timeout 120 redis-server --port $p --bind 127.0.0.1 --save '' --appendonly no >"$tmp/redis.log" 2>&1 &
    pids+=($!)
    sleep 0.3
    if redis-cli -p $p PING 2>/dev/null | grep -q PONG; then redis_port=$p; break; fi
done
[ -n "$redis_port" ] || fail "redis-server did not start"

start_node() { # start_node NAME: sets $port
    timeout 90 luajit tests/lua/peers/cluster_node.lua "redis://127.0.0.1:$redis_port" >"$tmp/$1.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do grep -q "^ready" "$tmp/$1.log" && break; sleep 0.05; done
    port=$(awk '/^ready/ {print $2}' "$tmp/$1.log")
    [ -n "$port" ] || fail "node $1 did not start"
}
start_node a; port_a=$port
start_node b; port_b=$port

timeout 60 $py - "$port_a" "$port_b" "$redis_port" >"$tmp/clients.log" 2>&1 <<'PY' || fail "clients failed"
import os, socket, struct, subprocess, sys, time, warnings
warnings.simplefilter("ignore")
from websockets.sync.client import connect
a_url, b_url = ("ws://127.0.0.1:%s" % p for p in sys.argv[1:3])
redis = ["redis-cli", "-p", sys.argv[3]]
N = 2000

def raw_subscriber(port, topic):
    """A client that subscribes, then never reads a byte: its socket fills up."""
    s = socket.create_connection(("127.0.0.1", int(port)))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    payload, mask = ("sub:" + topic).encode(), os.urandom(4)
    s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    return s

def ask(ws, line):
    ws.send(line)
    return ws.recv(timeout=10)

def numsub(topic):
    out = subprocess.run(redis + ["PUBSUB", "NUMSUB", "2:t:t:" + topic], capture_output=True, text=True).stdout.split()
    return int(out[1]) if len(out) > 1 else -1

def wait_until(cond, what):
    deadline = time.time() + 10
    while not cond():
        assert time.time() < deadline, what
        time.sleep(0.05)

PAD = "x" * 4000   # 2000 messages of 4 KiB: far more than the slow client's socket holds
with connect(a_url) as sub_a, connect(b_url) as sub_b, connect(a_url) as pub:
    slow = raw_subscriber(sys.argv[2], "room")
    for ws in (sub_a, sub_b):
        assert ask(ws, "sub:room") == "ok"
    wait_until(lambda: numsub("room") == 2, "both nodes subscribe to the topic in Redis")
    # The publisher does not wait for answers either.
    for i in range(N):
        pub.send("pub:room:m%d%s" % (i, PAD))
    counts = [pub.recv(timeout=10) for _ in range(N)]
    assert set(counts) == {"count:1"}, set(counts)   # local: sub_a only
    for name, ws in (("a", sub_a), ("b", sub_b)):
        got = [ws.recv(timeout=10) for _ in range(N)]
        want = ["m%d%s" % (i, PAD) for i in range(N)]
        assert got == want, (name, [g[:8] for g in got[:5]], len(got))
    print("exactly once and in order on both nodes, the slow subscriber holding up nobody")
    # Unsubscribe stops delivery across nodes: b hears the next topic's message first.
    assert ask(sub_b, "unsub:room") == "ok"
    assert ask(sub_b, "sub:other") == "ok"
    wait_until(lambda: numsub("other") == 1, "node b subscribes to the new topic")
    assert ask(pub, "pub:room:after") == "count:1"
    assert ask(pub, "pub:other:sentinel") == "count:0"
    assert sub_b.recv(timeout=10) == "sentinel"
    assert sub_a.recv(timeout=10) == "after"
    print("unsubscribe stops delivery")
    slow.close()
wait_until(lambda: numsub("room") == 0 and numsub("other") == 0,
           "no node stays subscribed once its subscribers have gone")
print("closed: no subscriptions left in Redis")
PY
grep -q "exactly once and in order" "$tmp/clients.log" || fail "no delivery line"
grep -q "no subscriptions left" "$tmp/clients.log" || fail "no cleanup line"
cat "$tmp/clients.log"
echo "cluster_two_processes: passed"
