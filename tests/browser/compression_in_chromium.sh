#!/usr/bin/env bash
# A real browser and permessage-deflate: headless Chromium (Debian's, driven by
# playwright-core) connects to the LuaJIT echo server with compression "shared", "dedicated"
# and off, and checks the negotiated extensions and ~2 KiB messages both ways.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x /usr/bin/chromium ] || { echo "FAIL: /usr/bin/chromium missing (run tests/setup.sh)"; exit 1; }
[ -d build/node/node_modules/playwright-core ] || { echo "FAIL: playwright-core missing (run tests/setup.sh)"; exit 1; }
command -v luajit >/dev/null || { echo "FAIL: luajit missing (run tests/setup.sh)"; exit 1; }
lib="${LUNA_LIB:-$PWD/target/release/libluna.so}"
[ -f "$lib" ] || { echo "FAIL: $lib missing (run make)"; exit 1; }
tmp=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

# start NAME CONFIG: the echo server (tests/common/luna_echo.lua) with CONFIG; sets $port.
start() {
    local name=$1 config=$2
    LUNA_LIB="$lib" LUNA_ECHO_CONFIG="$config" LUNA_ECHO_MAX_SECONDS=120 \
        luajit tests/common/luna_echo.lua >"$tmp/$name.log" 2>&1 &
    pids+=($!)
    port=
    for _ in $(seq 100); do
        # The log may not exist yet: the background shell opens it when it gets to run.
        port=$(awk '/^ready/ {print $2; exit}' "$tmp/$name.log" 2>/dev/null || true)
        [ -n "$port" ] && return 0
        sleep 0.05
    done
    echo "FAIL: the $name echo server did not start"; cat "$tmp/$name.log"; exit 1
}
start shared '{ compression = "shared" }'; shared=$port
start dedicated '{ compression = "dedicated" }'; dedicated=$port
start off ''; off=$port

NODE_PATH="$PWD/build/node/node_modules" timeout 90 \
    node tests/browser/compression_in_chromium.cjs "$shared" "$dedicated" "$off"
