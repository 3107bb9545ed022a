#!/usr/bin/env bash
# `make demo`: starts the chat server and says what to open. PORT=N picks the port.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v luajit >/dev/null || { echo "demo: luajit is not installed (run make setup)" >&2; exit 1; }
export LUNA_LIB="${LUNA_LIB:-$PWD/target/release/libluna.so}"
page="$PWD/examples/chat/index.html"
port="${PORT:-8765}"
echo "luna demo: a chat room."
echo "  open file://$page?port=$port in a browser (two tabs to see the broadcast)"
exec luajit examples/chat/server.lua "$port"
