#!/usr/bin/env bash
# docs/reference/ names every config key, function and field of the Lua modules and every
# function, struct field and enum value of include/luna.h, and nothing else
# (tests/lua/reference_in_sync.lua says how). Fails loudly on an undocumented name.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v luajit >/dev/null || { echo "reference_in_sync: luajit is not installed (run tests/setup.sh)" >&2; exit 1; }
: "${LUNA_LIB:=$PWD/target/release/libluna.so}"
[ -f "$LUNA_LIB" ] || { echo "reference_in_sync: library $LUNA_LIB not built (run make)" >&2; exit 1; }
export LUNA_LIB
LUA_PATH="ffi-lua/?.lua;ffi-lua/?/init.lua;;" exec timeout 60 luajit tests/lua/reference_in_sync.lua
