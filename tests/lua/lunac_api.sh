#!/usr/bin/env bash
# The `lunac` Lua client against servers nobody here wrote (Python websockets, Node ws) and
# against our own: one scenario per file in tests/lua/client/, each in its own luajit
# process under a watchdog.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v luajit >/dev/null || { echo "lunac_api: luajit is not installed (run tests/setup.sh)" >&2; exit 1; }
command -v node >/dev/null || { echo "lunac_api: node is not installed (run tests/setup.sh)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "lunac_api: openssl (the command) is not installed; the wss test needs it" >&2; exit 1; }
[ -x build/venv/bin/python ] || { echo "lunac_api: build/venv/bin/python missing (run tests/setup.sh)" >&2; exit 1; }
[ -d build/node/node_modules/ws ] || { echo "lunac_api: build/node/node_modules/ws missing (run tests/setup.sh)" >&2; exit 1; }
[ -x build/echo_server ] || { echo "lunac_api: build/echo_server missing (run make)" >&2; exit 1; }
: "${LUNA_LIB:=$PWD/target/release/libluna.so}"
[ -f "$LUNA_LIB" ] || { echo "lunac_api: library $LUNA_LIB not built (run make)" >&2; exit 1; }
export LUNA_LIB
export LUA_PATH="tests/lua/?.lua;;"
if [ $# -gt 0 ]; then exec luajit tests/lua/runner.lua "$@"; fi
exec luajit tests/lua/runner.lua tests/lua/client/*.lua
