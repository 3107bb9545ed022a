#!/usr/bin/env bash
# The `luna` Lua module against real Python websockets clients: one scenario per file in
# tests/lua/server/, each in its own luajit process under a watchdog.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v luajit >/dev/null || { echo "luna_api: luajit is not installed (run tests/setup.sh)" >&2; exit 1; }
[ -x build/venv/bin/python ] || { echo "luna_api: build/venv/bin/python missing (run tests/setup.sh)" >&2; exit 1; }
: "${LUNA_LIB:=$PWD/target/release/libluna.so}"
[ -f "$LUNA_LIB" ] || { echo "luna_api: library $LUNA_LIB not built (run make)" >&2; exit 1; }
export LUNA_LIB
export LUA_PATH="tests/lua/?.lua;;"
exec luajit tests/lua/runner.lua tests/lua/server/*.lua
