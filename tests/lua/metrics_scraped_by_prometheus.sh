#!/usr/bin/env bash
# A LuaJIT server with `metrics = "/metrics"` and a token, scraped by a real Prometheus
# (Debian's, started on a free port with a one-second scrape interval): `promtool check
# metrics` finds nothing wrong with the text, the target is up, and the counters Prometheus
# stored are the ones the traffic made (a Python client's three echoed messages). Without the
# token the endpoint answers 401.
set -uo pipefail
cd "$(dirname "$0")/../.."
py=build/venv/bin/python
for tool in luajit promtool prometheus curl; do
    command -v $tool >/dev/null || { echo "metrics_scraped_by_prometheus: $tool missing (run tests/setup.sh)"; exit 1; }
done
[ -x $py ] || { echo "metrics_scraped_by_prometheus: $py missing (run tests/setup.sh)"; exit 1; }
: "${LUNA_LIB:=$PWD/target/release/libluna.so}"
export LUNA_LIB
tmp=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
fail() { echo "metrics_scraped_by_prometheus: $1"; for f in "$tmp"/*.log; do echo "--- $f"; tail -15 "$f"; done; exit 1; }
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cat > "$tmp/server.lua" <<'EOF'
package.path = "ffi-lua/?.lua;ffi-lua/?/init.lua;" .. package.path
local luna = require("luna")
local app = luna.new_web_app({ name = "scraped", host = "127.0.0.1", port = 0,
  metrics = "/metrics", metrics_token = "scrape-me",
  protocols = { default = function(ws)
    while true do
      local message = ws:receive()
      if not message then return end
      ws:send(message)
    end
  end } })
print(app.port)
io.stdout:flush()
local deadline = os.time() + 90
while os.time() < deadline do luna.wait(0.1) end
EOF
timeout 100 luajit "$tmp/server.lua" > "$tmp/server.out" 2> "$tmp/server.log" &
pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/server.out" ] && break; sleep 0.1; done
port=$(head -1 "$tmp/server.out")
[ -n "$port" ] || fail "the server did not start"

$py - "$port" > "$tmp/client.log" 2>&1 <<'EOF' || fail "the client failed"
import sys
from websockets.sync.client import connect
with connect("ws://127.0.0.1:%s/" % sys.argv[1]) as c:
    for text in ("one", "two", "three"):
        c.send(text)
        assert c.recv(timeout=5) == text
EOF

status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")
[ "$status" = 401 ] || fail "without the token the metrics answered $status, not 401"
curl -sf -H "Authorization: Bearer scrape-me" "http://127.0.0.1:$port/metrics" > "$tmp/metrics.txt" ||
    fail "the metrics did not answer with the token"
promtool check metrics < "$tmp/metrics.txt" > "$tmp/promtool.log" 2>&1 ||
    fail "promtool check metrics found problems: $(cat "$tmp/promtool.log")"
grep -q '^luna_messages_received_total 3$' "$tmp/metrics.txt" || fail "the text does not count 3 messages: $(cat "$tmp/metrics.txt")"

prom_port=$(free_port)
cat > "$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: luna
    metrics_path: /metrics
    authorization:
      credentials: scrape-me
    static_configs:
      - targets: ["127.0.0.1:$port"]
EOF
timeout 90 prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
    --web.listen-address="127.0.0.1:$prom_port" > "$tmp/prometheus.log" 2>&1 &
pids+=($!)

query() { # query PROMQL: prints the first sample's value, or nothing
    curl -s "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" |
        $py -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null
}
up= received= accepted=
for _ in $(seq 60); do
    up=$(query 'up{job="luna"}')
    received=$(query 'luna_messages_received_total{job="luna"}')
    accepted=$(query 'luna_handshakes_accepted_total{job="luna"}')
    [ "$up" = 1 ] && [ "$received" = 3 ] && [ "$accepted" = 1 ] && break
    sleep 0.5
done
[ "$up" = 1 ] || fail "Prometheus never saw the target up (up=$up)"
[ "$received" = 3 ] || fail "Prometheus stored luna_messages_received_total=$received, not 3"
[ "$accepted" = 1 ] || fail "Prometheus stored luna_handshakes_accepted_total=$accepted, not 1"
sent=$(query 'luna_sent_bytes_total{job="luna"}')
[ "$sent" = 11 ] || fail "Prometheus stored luna_sent_bytes_total=$sent, not 11"
echo "metrics_scraped_by_prometheus: promtool clean; Prometheus scraped up=1, 3 messages, 1 handshake, 11 bytes sent"
