#!/usr/bin/env bash
# Installs what `make windows` and `make test-windows` need on a Debian machine: the Rust
# target x86_64-pc-windows-gnu, mingw-w64 (C cross compiler, also the linker cargo uses), and
# for the tests wine64 plus the peers: Python websockets (build/venv) and Node's ws
# (build/node), as tests/setup.sh makes them. Idempotent.
# `--build`: only the cross toolchain, no Wine.
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGET=x86_64-pc-windows-gnu
command -v rustup >/dev/null || { echo "FAIL: rustup missing (needed for the $TARGET target)"; exit 1; }
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"

need_apt=()
command -v x86_64-w64-mingw32-gcc >/dev/null || need_apt+=(gcc-mingw-w64-x86-64)
command -v zip >/dev/null || need_apt+=(zip unzip)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
[ -f /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
if [ "${1:-}" != "--build" ]; then
    { command -v wine64 || [ -x /usr/lib/wine/wine64 ]; } >/dev/null || need_apt+=(wine64)
    command -v openssl >/dev/null || need_apt+=(openssl)
    command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
    command -v node >/dev/null || need_apt+=(nodejs npm)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "windows setup: installing ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
[ "${1:-}" = "--build" ] && exit 0

# The Python peer (websockets) in build/venv, as tests/setup.sh makes it.
if [ ! -x build/venv/bin/python ]; then
    mkdir -p build
    python3 -m venv build/venv
fi
build/venv/bin/python -c 'import websockets' 2>/dev/null || build/venv/bin/pip install -q 'websockets>=13'
# Node's ws, the second peer of the lunac scenarios (tests/setup.sh installs it too).
if [ ! -d build/node/node_modules/ws ]; then
    mkdir -p build/node
    (cd build/node && npm install --silent --no-audit --no-fund ws@8 >/dev/null)
fi
echo "windows setup: done"
