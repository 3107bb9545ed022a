#!/usr/bin/env bash
# Every code block of README.md whose info string holds the word `runnable`
# (```c runnable, ```lua runnable, ```sh runnable) is extracted and run, as a user would, from
# a temporary folder outside the checkout:
#   c    saved as server.c and compiled by the README's ```sh c-build block: its lines up to
#        the first `cc` run in the checkout (where the user ran make), the rest in the folder
#        of server.c; the compiler must print nothing (no warnings); the program runs with no
#        LD_LIBRARY_PATH (its rpath must find the library);
#   lua  run by luajit with the README's own `export LUA_PATH=...` line (evaluated in the
#        checkout) and no LUNA_LIB: the modules must find the library themselves; a block that
#        defines love.* callbacks is driven as LÖVE would: love.load() once, then
#        love.update(dt) every 16 ms (no window: the test does not need one);
#   sh   run by bash.
# A plain block passes when it exits with 0 within 30 s.
# A block marked `runnable server` serves forever. The test edits two things in it, so that it
# stays on loopback and never collides with another program: `port = N` becomes a free port and
# `host = "*"` becomes "127.0.0.1". It runs it under a 30 s time limit, connects once with
# Python's websockets (an independent client), sends a TEXT message and passes when the answer
# contains that message (an echo); then it stops the server. `runnable server path=/x?y=z`
# connects to that path and query instead of "/" (a server that wants a token, say).
# usage: tests/c/readme_blocks.sh [MARKDOWN_FILE]   (default README.md)
# Prints "readme blocks: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
readme=${1:-README.md}
lib=$PWD/target/release/libluna.so
py=build/venv/bin/python
[ -f "$readme" ] || { echo "readme blocks: $readme missing"; exit 1; }
[ -f "$lib" ] || { echo "readme blocks: $lib missing (run make)"; exit 1; }
tmp=$(mktemp -d)
outside=$tmp/outside
mkdir -p "$outside"
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

# Extract: block N goes to $tmp/N.src, its language and flags to $tmp/N.info.
awk -v dir="$tmp" '
  !inside && /^```[a-z]+[ \t]/ {
    info = substr($0, 4)
    if (info ~ /(^|[ \t])runnable([ \t]|$)/) {
      n++; inside = 1
      file = dir "/" n ".src"; printf "" > file
      printf "%s %d\n", info, NR > (dir "/" n ".info")
      close(dir "/" n ".info")
      next
    }
  }
  inside && /^```[ \t]*$/ { inside = 0; close(file); next }
  inside { print > file }
  END { if (inside) { print "unterminated runnable block" > "/dev/stderr"; exit 1 } }
' "$readme" || { echo "readme blocks: cannot parse $readme"; exit 1; }

count=$(find "$tmp" -name '*.info' | wc -l)
if [ "$count" -eq 0 ]; then
    echo "FAIL: no code block of $readme is marked runnable (\`\`\`lua runnable, \`\`\`c runnable, \`\`\`sh runnable)"
    echo "readme blocks: 0 passed, 1 failed"
    exit 1
fi

# Stands in for LÖVE when a Lua block defines love.* callbacks; otherwise runs the block as is.
cat >"$tmp/driver.lua" <<'LUA'
local path = ...
local f = assert(io.open(path)); local src = f:read("*a"); f:close()
local is_love = src:find("function%s+love%.") ~= nil
if is_love then love = {} end
dofile(path)
if is_love then
  local ffi = require("ffi")
  pcall(ffi.cdef, "int poll(void *fds, unsigned long nfds, int timeout);")
  if love.load then love.load() end
  while love.update do
    ffi.C.poll(nil, 0, 16)
    love.update(0.016)
  end
end
LUA

# One connection, one TEXT message, an answer that contains it.
cat >"$tmp/client.py" <<'PY'
import sys, time, warnings
warnings.simplefilter("ignore")
from websockets.sync.client import connect
path = sys.argv[2] if len(sys.argv) > 2 else "/"
url, message = "ws://127.0.0.1:%s%s" % (sys.argv[1], path), "hello from the README test"
deadline = time.time() + 15
while True:
    try:
        ws = connect(url, open_timeout=5)
        break
    except OSError:
        if time.time() > deadline:
            raise
        time.sleep(0.1)
with ws:
    ws.send(message)
    answer = ws.recv(timeout=5)
    assert isinstance(answer, str) and message in answer, answer
    print("answer: %r" % answer)
PY

# The README's LUA_PATH, as `export LUA_PATH=...` in the checkout sets it.
lua_path=$(grep -m1 '^export LUA_PATH=' "$readme" | sed 's/[[:space:]]*#.*$//')
[ -n "$lua_path" ] && lua_path=$(unset LUA_PATH; eval "$lua_path"; printf '%s' "$LUA_PATH")
# The README's commands that compile server.c.
awk '/^```sh c-build/ { inside = 1; next } inside && /^```/ { exit } inside { print }' "$readme" \
    >"$tmp/c-build.sh"
c_build() {
    local before after
    before=$(awk '/^cc / { exit } { print }' "$tmp/c-build.sh")
    after=$(awk 'found || /^cc / { found = 1; print }' "$tmp/c-build.sh")
    [ -n "$after" ] || { echo "README has no \`\`\`sh c-build block with a cc line"; return 1; }
    (unset PKG_CONFIG_PATH; eval "$before"; cd "$outside" && eval "$after")
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

passed=0; failed=0
for ((n = 1; n <= count; n++)); do
    read -r lang rest <"$tmp/$n.info"
    line=${rest##* }
    src=$tmp/$n.src
    server=no; [[ " $rest " == *" server "* ]] && server=yes
    path=/; [[ " $rest " =~ \ path=([^ ]+)\  ]] && path=${BASH_REMATCH[1]}
    name="$readme:$line ($lang block$([ $server = yes ] && echo ", server"))"
    log=$tmp/$n.log
    if [ "$server" = yes ]; then
        port=$(free_port)
        grep -Eq 'port = [0-9]+' "$src" || {
            echo "FAIL $name: a server block must set \`port = N\` (the test replaces it)"
            failed=$((failed + 1)); continue; }
        sed -Ei "s/port = [0-9]+/port = $port/; s/host = \"\\*\"/host = \"127.0.0.1\"/" "$src"
    fi
    case $lang in
        c)
            rm -f "$outside/server.c" "$outside/server"
            cp "$src" "$outside/server.c"
            if ! c_build >"$log" 2>&1 || [ -s "$log" ] || [ ! -x "$outside/server" ]; then
                echo "FAIL $name: does not compile cleanly with the README's commands"; cat "$log"
                failed=$((failed + 1)); continue
            fi
            cmd=(env -u LD_LIBRARY_PATH "$outside/server") ;;
        lua)
            [ -n "$lua_path" ] || {
                echo "FAIL $name: README has no \`export LUA_PATH=...\` line"; failed=$((failed + 1)); continue; }
            cp "$src" "$outside/$n.lua"
            cmd=(env -u LUNA_LIB LUA_PATH="$lua_path" luajit "$tmp/driver.lua" "$n.lua") ;;
        sh)
            cp "$src" "$tmp/$n.sh"
            cmd=(bash "$tmp/$n.sh") ;;
        *)
            echo "FAIL $name: no runner for language '$lang'"; failed=$((failed + 1)); continue ;;
    esac
    if [ "$server" = no ]; then
        if (cd "$outside" && timeout 30 "${cmd[@]}") >"$log" 2>&1; then
            passed=$((passed + 1))
        else
            echo "FAIL $name: exited with $?"; cat "$log"; failed=$((failed + 1))
        fi
        continue
    fi
    [ -x "$py" ] || { echo "FAIL $name: $py missing (run tests/setup.sh)"; failed=$((failed + 1)); continue; }
    (cd "$outside" && exec timeout 30 "${cmd[@]}") >"$log" 2>&1 &
    server_pid=$!
    if out=$(timeout 25 "$py" "$tmp/client.py" "$port" "$path" 2>&1) && kill -0 "$server_pid" 2>/dev/null; then
        passed=$((passed + 1))
    else
        echo "FAIL $name: no echo on port $port"; echo "$out" | tail -5; echo "server output:"; cat "$log"
        failed=$((failed + 1))
    fi
    kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; server_pid=
done

echo "readme blocks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
