#!/usr/bin/env bash
# luna.js in a real browser: headless Chromium (Debian's, driven by playwright-core) loads
# js/luna.js and talks to the LuaJIT echo server through tests/tools/cutting_proxy.py, which
# resets connections at random points, mid-frame included. Against a server without resume
# (20 cuts), luna.js must reconnect after every cut, queue what is sent meanwhile, stop on
# close(), give up after max_attempts, and not come back after a close the server meant.
# Against a server with resume (100 cuts, then again with compression), 10,000 numbered
# messages must come back each exactly once, in order.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x /usr/bin/chromium ] || { echo "FAIL: /usr/bin/chromium missing (run tests/setup.sh)"; exit 1; }
[ -d build/node/node_modules/playwright-core ] || { echo "FAIL: playwright-core missing (run tests/setup.sh)"; exit 1; }
command -v luajit >/dev/null || { echo "FAIL: luajit missing (run tests/setup.sh)"; exit 1; }
lib="${LUNA_LIB:-$PWD/target/release/libluna.so}"
[ -f "$lib" ] || { echo "FAIL: $lib missing (run make)"; exit 1; }
tmp=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

# wait_for FILE PATTERN: the second field of the first line of FILE matching PATTERN.
wait_for() {
    for _ in $(seq 100); do
        # The log may not exist yet: the background shell opens it when it gets to run.
        value=$(awk "/$2/ {print \$2; exit}" "$1" 2>/dev/null || true)
        [ -n "$value" ] && { echo "$value"; return 0; }
        sleep 0.05
    done
    echo "FAIL: nothing matched $2 in $1" >&2; cat "$1" >&2; exit 1
}

LUNA_LIB="$lib" LUNA_ECHO_CONFIG='{ max_message_size = 4096 }' LUNA_ECHO_MAX_SECONDS=120 \
    luajit tests/common/luna_echo.lua >"$tmp/echo.log" 2>&1 &
pids+=($!)
echo_port=$(wait_for "$tmp/echo.log" '^ready')
python3 tests/tools/cutting_proxy.py --target "127.0.0.1:$echo_port" --cuts 20 \
    --min-bytes 200 --max-bytes 3000 --seed 7 >"$tmp/proxy.out" 2>"$tmp/proxy.err" &
proxy=$!; pids+=($proxy)
proxy_port=$(wait_for "$tmp/proxy.out" '^listening')

# resumable NAME CONFIG: an echo server with CONFIG behind a proxy that makes 100 cuts; sets
# $resumable_port (the proxy's).
resumable() {
    LUNA_LIB="$lib" LUNA_ECHO_CONFIG="$2" LUNA_ECHO_MAX_SECONDS=120 \
        luajit tests/common/luna_echo.lua >"$tmp/$1.log" 2>&1 &
    pids+=($!)
    local port
    port=$(wait_for "$tmp/$1.log" '^ready')
    python3 tests/tools/cutting_proxy.py --target "127.0.0.1:$port" --cuts 100 \
        --min-bytes 100 --max-bytes 2500 --seed 5 >"$tmp/$1.out" 2>"$tmp/$1.err" &
    pids+=($!)
    resumable_port=$(wait_for "$tmp/$1.out" '^listening')
}
resumable plain '{ resume = { window = 10 } }'; plain_port=$resumable_port
resumable deflate '{ resume = { window = 10 }, compression = "dedicated" }'; deflate_port=$resumable_port

NODE_PATH="$PWD/build/node/node_modules" timeout 90 \
    node tests/browser/luna_js_reconnects.cjs "$proxy_port" "$echo_port" "$plain_port" "$deflate_port"
kill "$proxy"; wait "$proxy" 2>/dev/null || true
cuts=$(awk '/^cuts/ {print $2}' "$tmp/proxy.out")
[ "$cuts" = 20 ] || { echo "FAIL: the proxy made ${cuts:-no} cuts, not 20: luna.js stopped coming back"; cat "$tmp/proxy.err"; exit 1; }
echo "the proxy cut 20 connections"
for name in plain deflate; do
    n=$(grep -c '^cut ' "$tmp/$name.err" || true)
    [ "$n" = 100 ] || { echo "FAIL: the $name resume proxy made $n cuts, not 100"; exit 1; }
done
echo "the resume proxies cut 100 connections each"
