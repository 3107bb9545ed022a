#!/usr/bin/env bash
# make check-memory: the C example echo server (build/echo_server) under valgrind memcheck
# while tests/soak/load.py runs CHECK_MEMORY_CYCLES (default 5000) connect/echo/close cycles
# (with dropped connections and protocol errors mixed in); then SIGTERM, a clean shutdown,
# and valgrind's verdict: any invalid access or definite/possible leak fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
cycles=${CHECK_MEMORY_CYCLES:-5000}
for tool in valgrind python3; do
    command -v $tool >/dev/null || { echo "check-memory: $tool is not installed" >&2; exit 1; }
done
[ -x build/echo_server ] || { echo "check-memory: build/echo_server missing (run make)" >&2; exit 1; }
log=$(mktemp -d)
trap '[ -n "${KEEP_LOG:-}" ] && cp "$log/valgrind" "$KEEP_LOG"; rm -rf "$log"' EXIT
# The example is linked against the soname (libluna.so.N); point it at the fresh build.
soname=$(objdump -p target/release/libluna.so | awk '/SONAME/ {print $2}')
[ -n "$soname" ] && ln -s "$PWD/target/release/libluna.so" "$log/$soname"
export LD_LIBRARY_PATH="$log${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
timeout 900 valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,possible \
    --suppressions=tests/soak/valgrind.supp --log-file="$log/valgrind" \
    build/echo_server 127.0.0.1 0 > "$log/out" 2>&1 &
server=$!
for _ in $(seq 600); do
    port=$(sed -n 's/^listening on \([0-9]*\).*/\1/p' "$log/out" 2>/dev/null || true)
    [ -n "$port" ] && break
    kill -0 $server 2>/dev/null || break
    sleep 0.1
done
[ -n "${port:-}" ] || { echo "check-memory: the server did not start" >&2; cat "$log/out" "$log/valgrind" >&2; kill $server 2>/dev/null; exit 1; }
status=0
timeout 600 python3 tests/soak/load.py "$port" "$cycles" 4 || status=$?
kill -TERM $server
wait $server || status=$?
grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|suppressed" "$log/valgrind" || true
if [ $status -ne 0 ]; then
    echo "check-memory: FAILED (exit $status); valgrind log:" >&2
    cat "$log/valgrind" >&2
    exit 1
fi
echo "check-memory: $cycles cycles, no invalid access, no leak"
