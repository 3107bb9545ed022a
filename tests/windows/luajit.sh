#!/usr/bin/env bash
# Builds a Windows LuaJIT (luajit.exe + lua51.dll, x86_64) from Debian's own luajit source
# package with mingw-w64, into build/luajit-win/ (cached: a no-op once built). The source
# comes only from the machine's Debian mirror through `apt-get source` (a deb-src entry for
# the same mirror and suites is added if missing); nothing else is downloaded.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=build/luajit-win
if [ -f "$OUT/luajit.exe" ] && [ -f "$OUT/lua51.dll" ] && [ -d "$OUT/lua/jit" ]; then
    exit 0
fi
command -v x86_64-w64-mingw32-gcc >/dev/null || { echo "FAIL: mingw-w64 missing: run tests/windows/setup.sh"; exit 1; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo

# apt-get source needs dpkg-source (dpkg-dev) and a deb-src entry.
if ! command -v dpkg-source >/dev/null; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null
fi
if ! apt-get source --print-uris luajit >/dev/null 2>&1; then
    src=/etc/apt/sources.list.d/luna-deb-src.sources
    echo "luajit: adding $src (deb-src for the configured Debian mirror)"
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        # deb822: the same stanzas with Types: deb-src.
        sed -n 's/^Types: deb$/Types: deb-src/; p' /etc/apt/sources.list.d/debian.sources | $SUDO tee "$src" >/dev/null
    else
        grep -h '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' |
            $SUDO tee /etc/apt/sources.list.d/luna-deb-src.list >/dev/null
    fi
    $SUDO apt-get update -qq
fi

work=build/luajit-win-src
rm -rf "$work"; mkdir -p "$work"
(cd "$work" && apt-get source -qq luajit >/dev/null 2>&1) || { echo "FAIL: apt-get source luajit"; exit 1; }
dir=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'luajit-*' | head -1)
[ -n "$dir" ] || { echo "FAIL: no unpacked luajit source in $work"; exit 1; }
echo "luajit: cross-building $(basename "$dir") for Windows x86_64"
# A 64-bit host compiler for the build tools (minilua, buildvm), mingw for the target.
make -C "$dir" -j2 HOST_CC=gcc CROSS=x86_64-w64-mingw32- TARGET_SYS=Windows BUILDMODE=dynamic \
    amalg >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; echo "FAIL: luajit cross-build"; exit 1; }
mkdir -p "$OUT/lua"
cp "$dir/src/luajit.exe" "$dir/src/lua51.dll" "$OUT/"
# jit.* modules (jit.bcsave, jit.dump, ...) where luajit.exe looks for them: lua\jit next to it.
cp -r "$dir/src/jit" "$OUT/lua/jit"
echo "luajit: $OUT/luajit.exe and lua51.dll ready"
