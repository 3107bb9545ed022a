#!/usr/bin/env bash
# `make demo`: starts the chat server, which prints the page to open. PORT=N picks the port
# (0: any free one), HOST=ADDRESS the address to listen on (default 127.0.0.1), ORIGINS=...
# the browser origins allowed to connect (comma-separated; default: the page's own).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v luajit >/dev/null || { echo "demo: luajit is not installed (run make setup)" >&2; exit 1; }
export LUNA_LIB="${LUNA_LIB:-$PWD/target/release/libluna.so}"
echo "luna demo: a chat room."
exec luajit examples/chat/server.lua "${PORT:-8765}"
