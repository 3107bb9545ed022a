#!/usr/bin/env bash
# ffi-lua/luna/cdef.lua must equal a fresh generation from include/luna.h.
# Regenerate: luajit tools/gen-cdef.lua include/luna.h > ffi-lua/luna/cdef.lua
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v luajit >/dev/null || { echo "cdef_in_sync: luajit is not installed" >&2; exit 1; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
luajit tools/gen-cdef.lua include/luna.h > "$tmp"
if ! diff -u ffi-lua/luna/cdef.lua "$tmp"; then
    echo "ffi-lua/luna/cdef.lua is stale; regenerate it:" >&2
    echo "  luajit tools/gen-cdef.lua include/luna.h > ffi-lua/luna/cdef.lua" >&2
    exit 1
fi
# The declarations must also load into LuaJIT and match the library's symbols.
: "${LUNA_LIB:=$PWD/target/release/libluna.so}"
export LUNA_LIB
LUA_PATH="ffi-lua/?.lua;ffi-lua/?/init.lua;;" luajit -e '
  local ffi = require("ffi")
  local C = require("luna.lib").load()
  for _, sym in ipairs({ "luna_server_new", "luna_app_poll", "luna_conn_send", "luna_app_wait_any" }) do
    assert(C[sym], sym)
  end
  print("cdef in sync with include/luna.h; library " .. ffi.string(C.luna_version()))'
