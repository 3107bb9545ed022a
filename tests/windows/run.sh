#!/usr/bin/env bash
# `make test-windows`: luna.dll under a headless 64-bit Wine, from the unpacked release zip,
# against Linux-side peers over loopback. Needs `make dist-windows` (the zip and the example
# .exe files) and tests/windows/setup.sh (wine64, mingw-w64, the Python venv). Suites:
#   1. luna_app_fd's SOCKET under select() (tests/windows/app_fd.c), and
#      c-examples/echo_server.c (.exe) serving Python websockets clients (tests/c/echo_peer.py)
#   2. c-examples/client.c (.exe) against a Python websockets echo server
#   3. wss:// through SChannel: web_server.exe with a certificate signed by a test CA, a
#      Python client verifying it; client.exe (TLS_CA) against a Python wss:// server
#   4. the luna and lunac Lua suites (tests/lua/{server,client}) under a Windows LuaJIT
#      (tests/windows/luajit.sh), luna.dll loaded from beside the modules as in a LÖVE game
# Every step is bounded by `timeout`. WIN_SUITES="1 2 3 4" picks suites, WIN_LUA="FILE..." scenarios.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
NAME=luna-$VERSION-windows-x86_64
ZIP=build/dist/$NAME.zip
PY=$ROOT/build/venv/bin/python
SUITES=${WIN_SUITES:-1 2 3 4}
die() { echo "FAIL: $*"; exit 1; }
# A Linux absolute path as Windows programs see it (Wine maps / to Z:).
winpath() { local p=${1//\//\\}; echo "Z:$p"; }
[ -f "$ZIP" ] || die "$ZIP missing: run make dist-windows"
[ -x "$PY" ] || die "$PY missing: run tests/windows/setup.sh"
for exe in echo_server client web_server app_fd; do
    [ -f "build/windows/$exe.exe" ] || die "build/windows/$exe.exe missing: run make windows"
done
command -v unzip >/dev/null || die "unzip missing: run tests/windows/setup.sh"
command -v openssl >/dev/null || die "openssl missing: run tests/windows/setup.sh"
source tests/windows/wine_env.sh
# One wineserver for the whole run (each wine64 would otherwise start its own when the last
# one has exited: seconds per scenario); cleanup stops it.
"$(dirname "$WINE64")/wineserver" -p

# The release as a user unpacks it; the example programs go beside its luna.dll.
WT=$ROOT/build/wintest
rm -rf "$WT"; mkdir -p "$WT/spool"
unzip -q "$ZIP" -d "$WT" || die "unzip $ZIP"
APP=$WT/$NAME
[ -f "$APP/luna.dll" ] || die "no luna.dll in $ZIP"
cp build/windows/echo_server.exe build/windows/client.exe build/windows/web_server.exe \
    build/windows/app_fd.exe "$APP/"
SPOOL=$WT/spool
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    "$(dirname "$WINE64")/wineserver" -k 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM

passed=0; failed=0; failures=()
result() { # NAME STATUS
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1"
    else failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1"; fi
}

# Waits until FILE has a line matching REGEX (awk field N printed); sets $found.
wait_line() {
    local file=$1 regex=$2 field=$3 tries=${4:-400}
    found=
    for _ in $(seq "$tries"); do
        found=$(awk -v f="$field" "/$regex/ {print \$f; exit}" "$file" 2>/dev/null)
        [ -n "$found" ] && return 0
        sleep 0.05
    done
    return 1
}

# A WebSocket text message to a ws:// or wss:// URL from Python, to stop a server.
py_send() { # URL TEXT [CAFILE]
    timeout 20 "$PY" - "$@" <<'PY'
import ssl, sys
from websockets.sync.client import connect
url, text = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=sys.argv[3]) if len(sys.argv) > 3 else None
with connect(url, ssl=ctx) if ctx else connect(url) as ws:
    ws.send(text)
PY
}

suite_app_fd() {
    local out=$WT/app_fd.out st=0
    (cd "$APP" && timeout 60 "$WINE64" app_fd.exe) >"$out" 2>&1 || st=1
    tr -d '\r' < "$out" | grep -v '^ok '
    result "luna_app_fd: a SOCKET select() sees readable exactly while events are pending (tests/windows/app_fd.c)" $st
}

suite_c_server() {
    local out=$WT/echo_server.out st=0
    (cd "$APP" && timeout 120 "$WINE64" echo_server.exe 127.0.0.1 0 chat superchat) >"$out" 2>&1 &
    pids+=($!)
    local pid=$!
    wait_line "$out" "^listening on" 3 || { echo "echo_server.exe did not start:"; cat "$out"; result "C echo_server.exe + Python clients" 1; return; }
    local port=$found
    timeout 120 "$PY" tests/c/echo_peer.py "$port" || st=1
    # Stops on a "shutdown" message (the console handler needs a real console).
    py_send "ws://127.0.0.1:$port" shutdown || st=1
    wait "$pid" || { echo "echo_server.exe exited non-zero"; st=1; }
    grep -q '^bye' "$out" || { echo "echo_server.exe did not say bye:"; cat "$out"; st=1; }
    grep -q "^close .* code 4001" "$out" || { echo "echo_server.exe saw no 4001 close:"; cat "$out"; st=1; }
    result "C echo_server.exe + Python clients (text, binary, 16 MiB, ping, close 4001, 100 clients, fragments)" $st
}

# Starts tests/lua/peers/ws_server.py MODE ARGS; sets $port.
start_py_server() { # LOG ARGS...
    local log=$1; shift
    timeout -k 2 60 "$PY" tests/lua/peers/ws_server.py "$@" >"$log" 2>&1 &
    pids+=($!)
    wait_line "$log" "^PORT" 2 || { echo "python server did not start:"; cat "$log"; return 1; }
    port=$found
}

# client.exe URL with three messages; checks its echoes and a clean close on both sides.
check_client() { # NAME URL PEERLOG [ENV...]
    local name=$1 url=$2 peerlog=$3; shift 3
    local out=$WT/client-$RANDOM.out st=0
    (cd "$APP" && env "$@" timeout 60 "$WINE64" client.exe "$url" "hello" "ünïcödé 🌙" "third one") >"$out" 2>&1 || {
        echo "client.exe exited non-zero:"; cat "$out"; st=1; }
    local want
    want=$(printf '< hello\n< ünïcödé 🌙\n< third one')
    [ "$(grep '^< ' "$out" | tr -d '\r')" = "$want" ] || { echo "echoes differ:"; cat "$out"; st=1; }
    grep -q "^closed 1000" "$out" || { echo "no clean 1000 close:"; cat "$out"; st=1; }
    for _ in $(seq 100); do grep -q "^close 1000" "$peerlog" && break; sleep 0.05; done
    grep -q "^close 1000" "$peerlog" || { echo "the server saw no 1000 close:"; cat "$peerlog"; st=1; }
    result "$name" $st
}

suite_c_client() {
    start_py_server "$WT/py_echo.out" echo || { result "C client.exe vs Python server" 1; return; }
    check_client "C client.exe vs Python websockets server (3 texts, close 1000)" "ws://127.0.0.1:$port/echo?q=1" "$WT/py_echo.out"
    # Nothing listens there any more: the client must fail and say why.
    local out=$WT/client-refused.out
    for _ in $(seq 100); do kill -0 "${pids[-1]}" 2>/dev/null || break; sleep 0.05; done
    if (cd "$APP" && timeout 60 "$WINE64" client.exe "ws://127.0.0.1:$port/" x) >"$out" 2>&1; then
        echo "client.exe exited 0 against a closed port"; cat "$out"; result "C client.exe: connection refused" 1
    else
        grep -qi "refused" "$out"; local st=$?
        [ $st -eq 0 ] || cat "$out"
        result "C client.exe: connection refused reported" $st
    fi
}

# Test certificates for 127.0.0.1 and localhost: a self-signed one (trusted by naming it as
# the CA file), and a test CA with a leaf it signed (for the Wine gaps below).
make_certs() {
    local d=$WT/certs
    mkdir -p "$d"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$d/ext"
    {
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
            -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$d/self.key" -out "$d/self.pem" &&
        # native-tls on Windows reads unencrypted PKCS#8 keys only.
        openssl pkcs8 -topk8 -nocrypt -in "$d/self.key" -out "$d/self.p8.pem" &&
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=luna-test-ca \
            -keyout "$d/ca.key" -out "$d/ca.pem" &&
        openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$d/leaf.key" -out "$d/leaf.csr" &&
        openssl x509 -req -in "$d/leaf.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
            -days 2 -extfile "$d/ext" -out "$d/leaf.pem"
    } >"$d/log" 2>&1 || { cat "$d/log"; return 1; }
}

gaps=()
# What Wine 8.0 cannot do (see tests/windows/README.md): observed, reported, not failures.
gap() { gaps+=("$1"); echo "gap  $1"; }

suite_tls() {
    make_certs || { result "wss:// test certificates" 1; return; }
    local d=$WT/certs out=$WT/web_server.out st=0

    # Client: client.exe through SChannel against a Python wss:// server whose self-signed
    # certificate it trusts through TLS_CA (luna's tls_ca_file).
    if start_py_server "$WT/py_tls.out" tls "$d/self.pem" "$d/self.key" 1; then
        check_client "wss:// client: client.exe through SChannel, TLS_CA = the server's self-signed certificate (3 texts, close 1000)" \
            "wss://localhost:$port/" "$WT/py_tls.out" TLS_CA="$d/self.pem"
    else
        result "wss:// client: Python wss server" 1
    fi
    # Without it the certificate is refused (CERT_E_UNTRUSTEDROOT, 0x800B0109 = -2146762487).
    local untrusted=$WT/client-untrusted.out
    if start_py_server "$WT/py_tls2.out" tls "$d/self.pem" "$d/self.key" 1; then
        if (cd "$APP" && timeout 60 "$WINE64" client.exe "wss://localhost:$port/" x) >"$untrusted" 2>&1; then
            echo "client.exe accepted an untrusted certificate:"; cat "$untrusted"
            result "wss:// client: untrusted self-signed certificate refused" 1
        else
            grep -q -- "-2146762487" "$untrusted"; local u=$?
            [ $u -eq 0 ] || cat "$untrusted"
            result "wss:// client: untrusted self-signed certificate refused (CERT_E_UNTRUSTEDROOT)" $u
        fi
    fi
    # A certificate signed by a CA: Wine's chain policy differs from Windows here.
    local probe=$WT/client-ca.out
    if start_py_server "$WT/py_tls3.out" tls "$d/leaf.pem" "$d/leaf.key" 1; then
        if (cd "$APP" && TLS_CA="$d/ca.pem" timeout 60 "$WINE64" client.exe "wss://localhost:$port/" x) >"$probe" 2>&1; then
            result "wss:// client: CA-signed certificate, TLS_CA = the CA" 0
        else
            gap "wss:// client, CA-signed server certificate with TLS_CA = its CA: refused under Wine ($(grep -m1 -o 'OS Error -\?[0-9]*' "$probe"); -2146762482 = CERT_E_REVOCATION_FAILURE: schannel-rs asks to ignore an unknown revocation status (CERT_CHAIN_POLICY_IGNORE_ALL_REV_UNKNOWN_FLAGS), which Wine apparently does not honour; the test CA publishes no revocation list)"
        fi
    fi
    if start_py_server "$WT/py_tls4.out" tls "$d/leaf.pem" "$d/leaf.key" 1; then
        if (cd "$APP" && timeout 60 "$WINE64" client.exe "wss://localhost:$port/" x) >"$probe" 2>&1; then
            gap "wss:// client, CA-signed server certificate whose CA nobody trusts, chain not sent: ACCEPTED under Wine (its SSL chain policy apparently lets a chain with a missing issuer through; Windows refuses it). Do not judge certificate checks by Wine."
        else
            result "wss:// client: certificate from an unknown CA refused ($(grep -m1 -o 'OS Error -\?[0-9]*' "$probe"))" 0
        fi
    fi

    # Server: web_server.exe serving wss:// through SChannel, a Python client verifying it.
    (cd "$APP" && TLS_CERT="$d/self.pem" TLS_KEY="$d/self.p8.pem" timeout 90 "$WINE64" web_server.exe 127.0.0.1 0) >"$out" 2>&1 &
    pids+=($!)
    local spid=$!
    if wait_line "$out" "^listening on" 3 100; then
        local port=$found
        timeout 60 "$PY" - "$port" "$d/self.pem" <<'PY' || st=1
import ssl, sys
from websockets.sync.client import connect
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
ok = True
with connect(f"wss://localhost:{port}/tls?x=1", ssl=ctx, max_size=None) as ws:
    ok &= ws.recv(timeout=10) == "hello /tls?x=1"
    for msg in ["over SChannel", b"\x00\x01" * 1000, b"\xab" * (16 * 1024 * 1024)]:
        ws.send(msg)
        ok &= ws.recv(timeout=30) == msg
    ws.close(4002, "tls done")
print("wss server checks:", "ok" if ok else "FAILED")
sys.exit(0 if ok else 1)
PY
        [ $st -eq 0 ] || cat "$out"
        result "wss:// server: web_server.exe through SChannel, Python client verifying it (hello, text, binary, 16 MiB)" $st
    elif grep -q "cannot use certificate.*File not found" "$out"; then
        gap "wss:// server: SChannel under Wine 8.0 cannot load a PEM key: native-tls's Identity::from_pkcs8 decodes it with CryptDecodeObjectEx(PKCS_PRIVATE_KEY_INFO), which Wine 8.0's crypt32 does not implement (ERROR_FILE_NOT_FOUND); luna answers '$(grep -m1 -o "cannot use certificate.*" "$out" | sed "s|$d/||g")'"
    else
        echo "web_server.exe (wss) did not start:"; cat "$out"
        result "wss:// server: web_server.exe through SChannel" 1
    fi
    kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
}

# Lua scenarios that cannot run here, and why (everything else in tests/lua/server and
# tests/lua/client runs).
SKIP_LUA=(
    # A real Redis on Linux (cluster), not a Windows question.
    server/cluster_key_joins_two_nodes_through_redis.lua
    # Asserts the Linux file names and search paths (libluna.so, target/release).
    server/library_not_found_lists_places.lua
    # An encrypted key with a password: OpenSSL builds only (Windows answers Unsupported by
    # design), and Wine cannot load PEM keys at all (suite 3).
    server/ssl_serves_wss.lua
    # Flaky under Wine, not diagnosed: both start a second Windows luajit (t.luajit) whose
    # stdout is a Linux pipe; in about one run in three its reader never sees EOF and the
    # scenario times out (a Wine helper process inheriting the pipe is suspected; a hang at
    # the child's exit is not ruled out).
    server/debug_log_lines_reach_a_pipe_at_once.lua
    server/handler_error_under_run_closes_1011_once.lua
    # Unix signals (kill -INT / -TERM); luna_signals_catch answers Unsupported on Windows.
    server/signal_under_run_closes_1001_and_exits_quietly.lua
)

suite_lua() {
    bash tests/windows/luajit.sh || { result "Windows LuaJIT build" 1; return; }
    local lj=$ROOT/build/luajit-win
    # The scenarios and their peers beside the unpacked modules; the C peer is echo_server.exe.
    mkdir -p "$APP/tests/lua" "$APP/build"
    cp -r tests/lua/helper.lua tests/lua/client_helper.lua tests/lua/runner.lua tests/lua/peers \
        tests/lua/server tests/lua/client "$APP/tests/lua/"
    printf '#!/bin/sh\ncd %q && exec %q echo_server.exe "$@"\n' "$APP" "$WINE64" > "$APP/build/echo_server"
    # A scenario's own luajit child processes (t.luajit) are Windows LuaJIT too.
    mkdir -p "$WT/bin"
    printf '#!/bin/sh\nexec %q %q "$@"\n' "$WINE64" "$lj/luajit.exe" > "$WT/bin/luajit"
    chmod +x "$APP/build/echo_server" "$WT/bin/luajit"
    # Node's ws peer (tests/windows/setup.sh).
    [ -d build/node/node_modules/ws ] || { result "Node ws peer (build/node): run tests/windows/setup.sh" 1; return; }
    command -v node >/dev/null || { result "node: run tests/windows/setup.sh" 1; return; }
    ln -s "$ROOT/build/node" "$APP/build/node"
    # readme_limit_keys_accepted.lua reads the limit keys of the reference.
    mkdir -p "$APP/docs/reference"
    cp docs/reference/lua-server.md "$APP/docs/reference/lua-server.md"
    export LUNA_TEST_SPOOL="$SPOOL" LUNA_TEST_MODULES=. LUNA_TEST_PYTHON="$PY" \
        LUNA_TEST_LUAJIT="$(winpath "$lj/luajit.exe")" LUA_PATH="tests/lua/?.lua;;"
    (cd "$APP" && PATH="$WT/bin:$PATH" exec bash "$ROOT/tests/windows/spooler.sh" "$SPOOL") &
    pids+=($!)
    local files=()
    for f in tests/lua/server/*.lua tests/lua/client/*.lua; do
        local rel=${f#tests/lua/} skip=0
        for s in "${SKIP_LUA[@]}"; do [ "$rel" = "$s" ] && skip=1; done
        [ $skip -eq 0 ] && files+=("$f")
    done
    # WIN_LUA="tests/lua/client/x.lua ...": only those.
    [ -n "${WIN_LUA:-}" ] && read -r -a files <<<"$WIN_LUA"
    echo "lua: ${#files[@]} scenarios under luajit.exe ($(( ${#SKIP_LUA[@]} )) skipped: ${SKIP_LUA[*]})"
    # One runner per scenario, so each has a watchdog here (cmd.exe has no `timeout`).
    local out=$WT/lua.out st=0 lp=0 lf=0
    : > "$out"
    for f in "${files[@]}"; do
        # Into a file, never a pipe: Wine's service processes inherit it and keep it open.
        (cd "$APP" && timeout -k 5 120 "$WINE64" "$lj/luajit.exe" tests/lua/runner.lua "$f") >"$WT/one.raw" 2>&1
        local rc=$?
        tr -d '\r' < "$WT/one.raw" > "$WT/one.out"
        if [ "$rc" -eq 0 ] && grep -q "^1 passed, 0 failed" "$WT/one.out"; then
            lp=$((lp + 1)); grep '^ok' "$WT/one.out" | tee -a "$out"
        else
            lf=$((lf + 1)); st=1
            { grep -v 'passed,' "$WT/one.out"; [ "$rc" -eq 124 ] && echo "      | (killed after 120 s: exit status $rc)"; } | tee -a "$out"
            grep -q '^FAIL' "$WT/one.out" || echo "FAIL  $f (exit $rc)" | tee -a "$out"
        fi
    done
    echo "$lp passed, $lf failed" | tee -a "$out"
    result "Lua suites under luajit.exe: $(grep -E '^[0-9]+ passed' "$out" | tail -1)" $st
}

for s in $SUITES; do
    case $s in
        1) suite_app_fd; suite_c_server ;;
        2) suite_c_client ;;
        3) suite_tls ;;
        4) suite_lua ;;
    esac
done
echo
[ ${#gaps[@]} -gt 0 ] && printf 'Wine gap (not a failure): %s\n' "${gaps[@]}"
[ $failed -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "windows (wine): $passed passed, $failed failed"
[ $failed -eq 0 ]
