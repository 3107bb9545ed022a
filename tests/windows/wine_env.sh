# Sourced by the Windows tests: a headless 64-bit Wine with its own prefix under build/wine,
# created once (`wineboot -i`), plus the test-only bcryptprimitives.dll stand-in (see
# bcryptprimitives.c) in that prefix's system32. Defines `wine` (a function) and WINE64.
# Fails loudly when a tool is missing.
WINE64=${WINE64:-$(command -v wine64 || echo /usr/lib/wine/wine64)}
[ -x "$WINE64" ] || { echo "FAIL: wine64 missing: run tests/windows/setup.sh (Debian package wine64)"; exit 1; }
command -v x86_64-w64-mingw32-gcc >/dev/null ||
    { echo "FAIL: x86_64-w64-mingw32-gcc missing: run tests/windows/setup.sh"; exit 1; }
export WINEPREFIX=${WINEPREFIX:-$PWD/build/wine}
export WINEARCH=win64 WINEDEBUG=-all
# No Mono or Gecko installer prompts, no window: nothing here needs .NET or a browser.
export WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY WAYLAND_DISPLAY

wine() { "$WINE64" "$@"; }

if [ ! -f "$WINEPREFIX/.luna-ready" ]; then
    echo "wine: creating the prefix $WINEPREFIX (once)"
    mkdir -p "$WINEPREFIX"
    timeout 300 "$WINE64" wineboot -i >/dev/null 2>&1 || { echo "FAIL: wineboot -i"; exit 1; }
    # wineboot returns before wineserver has written the registry: wait for it.
    timeout 120 "${WINESERVER:-$(dirname "$WINE64")/wineserver}" -w || true
    touch "$WINEPREFIX/.luna-ready"
fi
sys32="$WINEPREFIX/drive_c/windows/system32"
if [ ! -f "$sys32/bcryptprimitives.dll" ] || [ tests/windows/bcryptprimitives.c -nt "$sys32/bcryptprimitives.dll" ]; then
    x86_64-w64-mingw32-gcc -O2 -Wall -Wextra -Werror -shared -o "$sys32/bcryptprimitives.dll" \
        tests/windows/bcryptprimitives.c -ladvapi32 || { echo "FAIL: building the bcryptprimitives stand-in"; exit 1; }
fi
