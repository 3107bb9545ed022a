#!/usr/bin/env bash
# The C++11 example client (c-examples/echo_client.cpp, RAII over luna.h) against the C
# example echo server: subprotocol choice, three echoed messages (one non-ASCII), a clean
# 1000 close seen by both sides; a refused connection and a bad URL fail with a message.
set -uo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "cpp_example: FAIL: $*" >&2; exit 1; }
for bin in build/echo_server build/echo_client; do
    [ -x $bin ] || fail "$bin missing: run 'make'"
done

tmp=$(mktemp -d); pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
timeout 60 build/echo_server 127.0.0.1 0 chat >"$tmp/server" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q "^listening on" "$tmp/server" && break; sleep 0.05; done
port=$(awk '/^listening on/ {print $3}' "$tmp/server")
[ -n "$port" ] || { cat "$tmp/server"; fail "echo_server did not start"; }

timeout 20 build/echo_client -p nope -p chat "ws://127.0.0.1:$port/echo" hello "ünïcödé 🌙" "third one" \
    >"$tmp/client" 2>&1
rc=$?
cat "$tmp/client"
[ $rc -eq 0 ] || fail "echo_client exited $rc"
want="connected (protocol 'chat')
< hello
< ünïcödé 🌙
< third one
closed 1000 'done'"
[ "$(cat "$tmp/client")" = "$want" ] || fail "the client's output differs from: $want"
for _ in $(seq 100); do grep -q "code 1000 clean 1 reason 'done'" "$tmp/server" && break; sleep 0.05; done
grep -q "code 1000 clean 1 reason 'done'" "$tmp/server" ||
    { cat "$tmp/server"; fail "the server saw no clean 1000 'done' close"; }

# The server stops on "shutdown"; then nothing listens on its port.
timeout 20 build/echo_client "ws://127.0.0.1:$port/" shutdown >/dev/null 2>&1
wait "$pid"; pid=
if timeout 20 build/echo_client "ws://127.0.0.1:$port/" x >"$tmp/refused" 2>&1; then
    cat "$tmp/refused"; fail "a refused connection exited 0"
fi
grep -q "connection refused" "$tmp/refused" || { cat "$tmp/refused"; fail "no 'connection refused' message"; }

if timeout 20 build/echo_client "http://127.0.0.1:$port/" >"$tmp/bad" 2>&1; then
    cat "$tmp/bad"; fail "a bad URL exited 0"
fi
grep -q "^echo_client: cannot connect to http://" "$tmp/bad" || { cat "$tmp/bad"; fail "no message for a bad URL"; }
echo "cpp_example: passed"
