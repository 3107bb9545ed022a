#!/usr/bin/env bash
# A real browser: headless Chromium (Debian's) driven by playwright-core uses the chat demo,
# over ws:// and over wss:// (a certificate made here with openssl, valid for a day), and a
# page of another origin (a third chat server's) that those servers refuse by default.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x /usr/bin/chromium ] || { echo "FAIL: /usr/bin/chromium missing (run tests/setup.sh)"; exit 1; }
[ -d build/node/node_modules/playwright-core ] || { echo "FAIL: playwright-core missing (run tests/setup.sh)"; exit 1; }
command -v luajit >/dev/null || { echo "FAIL: luajit missing (run tests/setup.sh)"; exit 1; }
command -v openssl >/dev/null || { echo "FAIL: openssl missing (run tests/setup.sh)"; exit 1; }
tmp=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>"$tmp/openssl.log" ||
    { echo "FAIL: openssl could not make a test certificate"; cat "$tmp/openssl.log"; exit 1; }

# A port free right now (the servers must know their own origin before they start).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# start_server NAME PORT [CERT KEY]: starts examples/chat/server.lua on PORT (ORIGINS from
# the environment), waits until it listens.
start_server() {
    local name=$1 port=$2; shift 2
    LUNA_LIB="$PWD/target/release/libluna.so" timeout 200 luajit examples/chat/server.lua "$port" "$@" \
        >"$tmp/$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do grep -q "listening on" "$tmp/$name.log" && break; sleep 0.05; done
    grep -q "listening on wss*://127\.0\.0\.1:$port " "$tmp/$name.log" ||
        { echo "FAIL: $name chat server did not start on $port"; cat "$tmp/$name.log"; exit 1; }
}
# ws:// and wss:// servers without ORIGINS (so they accept only pages of their own origin),
# and one on another port whose ORIGINS lists its own page and the ws:// server's: its page
# is the "other origin" the first two refuse.
ws_port=$(free_port); wss_port=$(free_port); open_port=$(free_port)
start_server plain "$ws_port"
start_server tls "$wss_port" "$tmp/cert.pem" "$tmp/key.pem"
ORIGINS="http://127.0.0.1:$open_port,http://127.0.0.1:$ws_port" start_server open "$open_port"

NODE_PATH="$PWD/build/node/node_modules" timeout 190 \
    node tests/browser/chat_in_chromium.cjs "$ws_port" "$wss_port" "$open_port" "$PWD" "${SCREENSHOT:-}"
