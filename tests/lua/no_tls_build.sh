#!/usr/bin/env bash
# A libluna built without TLS refuses `ssl` (and lunac's wss://) with an error saying so,
# never a silent ws://. Builds that variant into its own target directory first.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v luajit >/dev/null || { echo "no_tls_build: luajit is not installed (run tests/setup.sh)" >&2; exit 1; }
[ -x build/venv/bin/python ] || { echo "no_tls_build: build/venv/bin/python missing (run tests/setup.sh)" >&2; exit 1; }
cargo build --release --quiet --no-default-features --target-dir target/notls
export LUNA_LIB="$PWD/target/notls/release/libluna.so"
export LUA_PATH="tests/lua/?.lua;;"
exec luajit tests/lua/runner.lua tests/lua/notls/*.lua
