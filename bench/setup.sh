#!/usr/bin/env bash
# Installs the peers `make bench` compares luna with, on a Debian machine. Idempotent.
#   Node's ws        -> build/node/node_modules (shared with the tests)
#   Python websockets -> build/venv (shared with the tests)
#   lua-http          -> Debian's lua-http (Lua 5.1 modules on cqueues; LuaJIT loads them)
#   wrk, nginx        -> Debian's wrk and nginx-light (make bench-web; the bench starts its own
#                        nginx on a free loopback port, never the system service)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pair in luajit:luajit node:nodejs npm:npm python3:python3 wrk:wrk nginx:nginx-light; do
    cmd=${pair%%:*}; pkg=${pair##*:}
    command -v "$cmd" >/dev/null 2>&1 || need_apt+=("$pkg")
done
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
[ -f /usr/share/lua/5.1/http/websocket.lua ] || need_apt+=(lua-http)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "bench setup: installing ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x build/venv/bin/python ]; then
    mkdir -p build
    python3 -m venv build/venv
fi
build/venv/bin/python -c 'import websockets' 2>/dev/null ||
    build/venv/bin/pip install -q 'websockets>=13'
if [ ! -d build/node/node_modules/ws ]; then
    mkdir -p build/node
    (cd build/node && npm install --silent --no-audit --no-fund ws@8 >/dev/null)
fi
echo "bench setup: done"
