#!/usr/bin/env bash
# A real browser: headless Chromium (Debian's) driven by playwright-core uses the chat demo,
# over ws:// and over wss:// (a certificate made here with openssl, valid for a day).
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

# start_server NAME [CERT KEY]: starts examples/chat/server.lua on a free port, sets $port.
start_server() {
    local name=$1; shift
    LUNA_LIB="$PWD/target/release/libluna.so" timeout 150 luajit examples/chat/server.lua 0 "$@" \
        >"$tmp/$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do grep -q "listening on" "$tmp/$name.log" && break; sleep 0.05; done
    port=$(sed -n 's/.*listening on wss*:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/$name.log" | head -1)
    [ -n "$port" ] || { echo "FAIL: $name chat server did not start"; cat "$tmp/$name.log"; exit 1; }
}
start_server plain; ws_port=$port
start_server tls "$tmp/cert.pem" "$tmp/key.pem"; wss_port=$port
grep -q "listening on wss://" "$tmp/tls.log" || { echo "FAIL: no wss:// server"; cat "$tmp/tls.log"; exit 1; }

NODE_PATH="$PWD/build/node/node_modules" timeout 140 \
    node tests/browser/chat_in_chromium.cjs "$ws_port" "$wss_port" "$PWD" "${SCREENSHOT:-}"
