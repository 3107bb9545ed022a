#!/usr/bin/env bash
# Soak (not a timed test): SOAK_CYCLES (default 100,000) connect/echo/close cycles from
# tests/soak/load.py against the LuaJIT echo server (tests/common/luna_echo.lua), printing
# the server's RSS at start, along the way and at the end. RSS should not grow beyond noise.
set -euo pipefail
cd "$(dirname "$0")/../.."
cycles=${SOAK_CYCLES:-100000}
for tool in luajit python3; do
    command -v $tool >/dev/null || { echo "soak: $tool is not installed" >&2; exit 1; }
done
export LUNA_LIB=${LUNA_LIB:-$PWD/target/release/libluna.so}
[ -f "$LUNA_LIB" ] || { echo "soak: $LUNA_LIB missing (run make)" >&2; exit 1; }
out=$(mktemp)
LUNA_ECHO_MAX_SECONDS=3600 luajit tests/common/luna_echo.lua 0 > "$out" &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q ready "$out" && break; sleep 0.1; done
port=$(sed -n 's/^ready //p' "$out")
[ -n "$port" ] || { echo "soak: the server did not start" >&2; exit 1; }
rss() { awk '/VmRSS/ {print $2}' /proc/$server/status; }
# Warm up once, so start-up allocations are not counted as growth.
python3 tests/soak/load.py "$port" 1000 4 >/dev/null
start=$(rss)
echo "RSS after 1,000 warm-up cycles: $start KiB"
step=$((cycles / 5))
for i in 1 2 3 4 5; do
    python3 tests/soak/load.py "$port" "$step" 4 >/dev/null
    echo "RSS after $((i * step)) cycles: $(rss) KiB"
done
end=$(rss)
echo "soak: $cycles cycles; RSS start $start KiB, end $end KiB, growth $((end - start)) KiB"
