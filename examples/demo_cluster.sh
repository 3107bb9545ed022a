#!/usr/bin/env bash
# `make demo-cluster`: a Redis and two chat nodes sharing it. Open one node's page in one tab
# and the other's in another: they chat with each other through Redis. PORT=N (default 8765)
# is the first node, PORT+1 the second; REDIS_PORT (default 6390) the Redis. Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v luajit >/dev/null || { echo "demo-cluster: luajit is not installed (run make setup)" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "demo-cluster: redis-server is not installed (run make setup)" >&2; exit 1; }
export LUNA_LIB="${LUNA_LIB:-$PWD/target/release/libluna.so}"
port=${PORT:-8765}
redis_port=${REDIS_PORT:-6390}
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --logfile /dev/null &
pids+=($!)
until redis-cli -p "$redis_port" PING >/dev/null 2>&1; do sleep 0.1; done
echo "luna demo-cluster: Redis on 127.0.0.1:$redis_port, chat nodes on ports $port and $((port + 1))."
export CLUSTER="redis://127.0.0.1:$redis_port"
luajit examples/chat/server.lua "$port" &
pids+=($!)
luajit examples/chat/server.lua "$((port + 1))" &
pids+=($!)
wait -n
