#!/usr/bin/env bash
# Every guide in docs/guides/ (but its index, README.md) runs as written: each page goes
# through tests/c/readme_blocks.sh, which runs its ```lua runnable, ```c runnable and
# ```sh runnable blocks (a page without one fails). The many-nodes guide needs a Redis: one
# is started here on a free loopback port and handed to the blocks as REDIS_URL.
# Prints "guides: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
command -v redis-server >/dev/null || { echo "guide blocks: redis-server is not installed (run tests/setup.sh)"; exit 1; }
command -v luajit >/dev/null || { echo "guide blocks: luajit is not installed (run tests/setup.sh)"; exit 1; }
tmp=$(mktemp -d)
redis_pid=
trap '[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.05
done
redis-cli -p "$port" ping >/dev/null 2>&1 || { echo "guide blocks: redis-server did not start"; cat "$tmp/redis.log"; exit 1; }
export REDIS_URL="redis://127.0.0.1:$port"

passed=0; failed=0; pages=0
for page in docs/guides/*.md; do
    [ "$(basename "$page")" = README.md ] && continue
    pages=$((pages + 1))
    echo "--- $page"
    if bash tests/c/readme_blocks.sh "$page"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
[ "$pages" -gt 0 ] || { echo "guide blocks: no guide in docs/guides/"; exit 1; }
echo "guides: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
