#!/usr/bin/env bash
# A real browser: headless Chromium (Debian's) driven by playwright-core uses the chat demo.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x /usr/bin/chromium ] || { echo "FAIL: /usr/bin/chromium missing (run tests/setup.sh)"; exit 1; }
[ -d build/node/node_modules/playwright-core ] || { echo "FAIL: playwright-core missing (run tests/setup.sh)"; exit 1; }
command -v luajit >/dev/null || { echo "FAIL: luajit missing (run tests/setup.sh)"; exit 1; }
out=$(mktemp); trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
LUNA_LIB="$PWD/target/release/libluna.so" timeout 90 luajit examples/chat/server.lua 0 >"$out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$out" && break; sleep 0.05; done
port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out" | head -1)
[ -n "$port" ] || { echo "FAIL: chat server did not start"; cat "$out"; exit 1; }
NODE_PATH="$PWD/build/node/node_modules" timeout 80 node tests/browser/chat_in_chromium.cjs "$port" "$PWD" "${SCREENSHOT:-}"
