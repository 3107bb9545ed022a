#!/usr/bin/env bash
# `make install` into a scratch prefix: the files land where the README says, a plain luajit
# finds modules and library with no LUNA_LIB, a C program builds with pkg-config and runs,
# `make uninstall` removes exactly what was installed, and `luarocks make` installs the rock.
set -euo pipefail
cd "$(dirname "$0")/../.."
unset LUNA_LIB
prefix=$(mktemp -d); tree=$(mktemp -d); work=$(mktemp -d)
trap 'rm -rf "$prefix" "$tree" "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

make -s install PREFIX="$prefix" >/dev/null
for f in lib/libluna.so lib/libluna.so.0 lib/libluna.a include/luna.h lib/pkgconfig/luna.pc \
         share/lua/5.1/luna/init.lua share/lua/5.1/lunac/init.lua share/luna/luna.js; do
    [ -e "$prefix/$f" ] || fail "missing $f"
done
[ -L "$prefix/lib/libluna.so" ] || fail "lib/libluna.so is not a symlink to the versioned file"

LUA_PATH="$prefix/share/lua/5.1/?.lua;$prefix/share/lua/5.1/?/init.lua;;" \
    luajit -e 'local l = require("luna"); assert(l.lib_path:find("'"$prefix"'", 1, true), l.lib_path); require("lunac"); print("lua ok", l.version)' \
    | grep -q "lua ok" || fail "luajit could not load the installed modules and library"

cat > "$work/hello.c" <<'C'
#include <luna.h>
#include <stdio.h>
int main(void) {
    LunaServerConfig c;
    luna_server_config_default(&c);
    c.host = "127.0.0.1";
    LunaApp *app = luna_server_new(&c);
    uint16_t port = 0;
    if (!app || luna_app_port(app, &port) != LUNA_RESULT_OK || port == 0) return 1;
    printf("listening %u\n", port);
    return luna_app_free(app) == LUNA_RESULT_OK ? 0 : 1;
}
C
# Only for pkg-config itself: cargo's build scripts read PKG_CONFIG_PATH, and a new one each
# run would rebuild OpenSSL's bindings in the rock build below.
pkg_config() { PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config "$@"; }
cc -std=c99 -Wall -Wextra -Werror "$work/hello.c" -o "$work/hello" $(pkg_config --cflags --libs luna) -Wl,-rpath,"$prefix/lib"
"$work/hello" | grep -q "listening" || fail "C program built with pkg-config did not run"
grep -q "libluna.so.0" <<<"$(readelf -d "$work/hello")" || fail "program not linked against the soname"
# The shipped examples build against the installed files with pkg-config alone.
for ex in echo_server client; do
    cc -std=c99 -Wall -Wextra -Werror "c-examples/$ex.c" -o "$work/$ex" $(pkg_config --cflags --libs luna) \
        -Wl,-rpath,"$prefix/lib" || fail "c-examples/$ex.c does not build against the install"
done
c++ -std=c++11 -Wall -Wextra -Werror c-examples/echo_client.cpp -o "$work/echo_client" \
    $(pkg_config --cflags --libs luna) -Wl,-rpath,"$prefix/lib" || fail "c-examples/echo_client.cpp does not build against the install"
"$work/echo_server" 127.0.0.1 0 >"$work/server.out" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q "listening on" "$work/server.out" && break; sleep 0.05; done
port=$(awk '/listening on/ {print $3}' "$work/server.out")
# Output captured first: `grep -q` quitting early would SIGPIPE the client under pipefail.
answer=$("$work/client" "ws://127.0.0.1:$port/" "installed" 2>&1) || true
kill $server
grep -q "< installed" <<<"$answer" || fail "installed client/server did not echo: $answer"

make -s uninstall PREFIX="$prefix" >/dev/null
left=$(find "$prefix" -type f -o -type l)
[ -z "$left" ] || fail "uninstall left: $left"

command -v luarocks >/dev/null || fail "luarocks missing (run tests/setup.sh)"
luarocks make rockspecs/luna-0.1.0-1.rockspec --tree="$tree" >"$work/rocks.log" 2>&1 || { cat "$work/rocks.log"; fail "luarocks make"; }
eval "$(luarocks path --tree="$tree")"
luajit -e 'local l = require("luna"); require("lunac"); print("rock ok", l.lib_path)' | grep -q "rock ok" || fail "the rock's modules did not load"
echo "install: 1 passed, 0 failed"
