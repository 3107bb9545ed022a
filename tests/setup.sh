#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine. Idempotent, and quick when
# everything is there. `--build`: only what building and `make demo` need (pkg-config,
# libssl-dev, luajit), no test peers.
set -euo pipefail
cd "$(dirname "$0")/.."

tools="luajit:luajit pkg-config:pkg-config"
if [ "${1:-}" != "--build" ]; then
    tools="$tools love:love xvfb-run:xvfb xauth:xauth valgrind:valgrind chromium:chromium"
    tools="$tools luarocks:luarocks openssl:openssl curl:curl"
    # The cluster tests and `make demo-cluster` run a real Redis.
    tools="$tools redis-server:redis-server redis-cli:redis-tools"
    # trusted_proxies and the nginx guide put a real nginx in front of luna; metrics are
    # scraped by a real Prometheus (promtool checks the text).
    tools="$tools nginx:nginx-light promtool:prometheus"
fi
need_apt=()
for pair in $tools; do
    cmd=${pair%%:*}; pkg=${pair##*:}
    command -v "$cmd" >/dev/null 2>&1 || need_apt+=("$pkg")
done
[ -f /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

[ "${1:-}" = "--build" ] && exit 0

# Independent peers: Python's websockets (client and server) and Node's ws.
if [ ! -x build/venv/bin/python ]; then
    mkdir -p build
    python3 -m venv build/venv
fi
build/venv/bin/python -c 'import websockets' 2>/dev/null ||
    build/venv/bin/pip install -q 'websockets>=13'
if [ ! -d build/node/node_modules/ws ] || [ ! -d build/node/node_modules/playwright-core ]; then
    mkdir -p build/node
    # playwright-core drives Debian's chromium; it never downloads a browser of its own.
    (cd build/node && npm install --silent --no-audit --no-fund ws@8 playwright-core@1 >/dev/null)
fi
echo "setup: done"
