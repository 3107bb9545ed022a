#!/usr/bin/env bash
# Packs the Windows release zip a LÖVE developer downloads:
#   build/dist/luna-VERSION-windows-x86_64.zip, one folder luna-VERSION-windows-x86_64/ with
#   luna.dll, luna/, lunac/ (ffi-lua), include/luna.h, lib/libluna.dll.a, README.txt, LICENSE.
# Never the test-only bcryptprimitives.dll stand-in. Run by `make dist-windows`.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=${1:?usage: dist.sh VERSION}
WIN_BUILD=target/x86_64-pc-windows-gnu/release
[ -f "$WIN_BUILD/luna.dll" ] || { echo "FAIL: $WIN_BUILD/luna.dll missing: run make windows"; exit 1; }
command -v zip >/dev/null || { echo "FAIL: zip missing: run tests/windows/setup.sh"; exit 1; }
name=luna-$VERSION-windows-x86_64
stage=build/dist/stage/$name
rm -rf build/dist/stage "build/dist/$name.zip"
mkdir -p "$stage/include" "$stage/lib"
# The DLL without its debug info (debug = 1 in the release profile): a third of the size.
x86_64-w64-mingw32-strip -o "$stage/luna.dll" "$WIN_BUILD/luna.dll"
cp "$WIN_BUILD/libluna.dll.a" "$stage/lib/"
cp -r ffi-lua/luna ffi-lua/lunac "$stage/"
cp include/luna.h "$stage/include/"
cp LICENSE "$stage/LICENSE.txt"
sed "s/@VERSION@/$VERSION/" tests/windows/dist_README.txt | sed 's/$/\r/' > "$stage/README.txt"
if find "$stage" -iname 'bcryptprimitives*' | grep -q .; then
    echo "FAIL: the test-only bcryptprimitives stand-in must never ship"; exit 1
fi
(cd build/dist/stage && TZ=UTC zip -q -r -X "../$name.zip" "$name")
rm -rf build/dist/stage
echo "dist: build/dist/$name.zip ($(du -k "build/dist/$name.zip" | cut -f1) KiB)"
