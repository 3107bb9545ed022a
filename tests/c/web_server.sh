#!/usr/bin/env bash
# The C example web_server (c-examples/web_server.c, luna.h alone) against peers nobody here
# wrote: curl and Python's http.client for static files, traversal and malformed or slow
# requests; Python's websockets for upgrades (the request a handler sees, the origin
# allow-list). Everything once over http:// and ws://, then again over https:// and wss://.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=build/venv/bin/python
command -v curl >/dev/null || { echo "FAIL: curl missing (run tests/setup.sh)"; exit 1; }
command -v openssl >/dev/null || { echo "FAIL: openssl missing (run tests/setup.sh)"; exit 1; }
[ -x "$PY" ] || { echo "FAIL: $PY missing: run 'make setup' (tests/setup.sh)"; exit 1; }
"$PY" -c 'import websockets' || { echo "FAIL: python websockets missing: run 'make setup'"; exit 1; }
[ -x build/web_server ] || { echo "FAIL: build/web_server missing: run 'make'"; exit 1; }

tmp=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

# ---- the tree: root/ is served; secret.txt beside it must never come out --------------
SECRET="luna-secret-$RANDOM$RANDOM-never-served"
root="$tmp/root"; out="$tmp/out"
mkdir -p "$root/sub" "$root/a" "$out"
echo "$SECRET" > "$tmp/secret.txt"
echo '<!doctype html><title>luna</title><h1>home</h1>' > "$root/index.html"
echo 'body { color: #123; }' > "$root/style.css"
echo 'console.log("app");' > "$root/app.js"
echo '{"ok": true, "n": 7}' > "$root/data.json"
echo '<p>sub</p>' > "$root/sub/index.html"
echo 'page' > "$root/sub/page.txt"
echo 'a file' > "$root/a/file.txt"
echo 'TOKEN=dotfile' > "$root/.env"
# > 64 KiB (the server's file chunk): sent in several writes after its head.
head -c 300000 /dev/urandom > "$root/big.bin"
ln -s "$tmp/secret.txt" "$root/abs_link.txt"        # absolute symlink out of the root
ln -s ../secret.txt "$root/rel_link.txt"            # relative symlink out of the root
ln -s "$tmp" "$root/outdir"                         # a directory symlink out of the root
ln -s style.css "$root/inside_link.css"             # a symlink that stays inside: served

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>"$tmp/openssl.log" ||
    { echo "FAIL: openssl could not make a test certificate"; cat "$tmp/openssl.log"; exit 1; }

# start_server NAME [ENV=VALUE...]: starts the example on a free port, sets $port.
start_server() {
    local name=$1; shift
    env "$@" timeout 120 build/web_server 127.0.0.1 0 >"$tmp/$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do grep -q "listening on" "$tmp/$name.log" && break; sleep 0.05; done
    port=$(awk '/listening on/ {print $3}' "$tmp/$name.log")
    [ -n "$port" ] || { echo "FAIL: web_server $name did not start"; cat "$tmp/$name.log"; exit 1; }
}

passed=0; failed=0
check() { # check NAME COMMAND...: passes when the command succeeds
    local name=$1; shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $name"; fi
}
n=0
# fetch [CURL ARGS...]: one curl run; sets $code, $hdr (head file) and $body (body file).
fetch() {
    n=$((n + 1)); hdr="$out/$n.head"; body="$out/$n.body"
    code=$(timeout 20 curl -sS --noproxy "*" --max-time 15 "${CURL_TLS[@]}" -D "$hdr" -o "$body" \
        --write-out '%{http_code}' "$@" 2>>"$out/curl.err") || code="curl-failed:$?"
}
header() { # header NAME: the value of a response field of the last fetch
    { grep -i "^$1:" "$hdr" || true; } | head -1 | sed 's/^[^:]*: *//' | tr -d '\r'
}
expect() { # expect NAME STATUS [FIELD VALUE]...
    local name=$1 want=$2; shift 2
    check "$name: status $code, wanted $want" [ "$code" = "$want" ]
    while [ $# -ge 2 ]; do
        local got; got=$(header "$1")
        check "$name: $1 '$got', wanted '$2'" [ "$got" = "$2" ]
        shift 2
    done
}

# curl_suite BASE: static files through curl.
curl_suite() {
    local base=$1 f
    for f in index.html:text/html style.css:text/css app.js:text/javascript \
             data.json:application/json sub/page.txt:text/plain inside_link.css:text/css; do
        local file=${f%%:*} type=${f#*:}
        fetch "$base/$file"
        expect "GET /$file" 200 Content-Length "$(stat -L -c %s "$root/$file")"
        case $(header Content-Type) in "$type"*) check "type of $file" true ;;
            *) check "type of $file: '$(header Content-Type)'" false ;; esac
        check "body of $file" cmp -s "$body" "$root/$file"
    done
    fetch "$base/"; expect "GET /" 200 Content-Type "text/html; charset=utf-8"
    check "/ serves index.html" cmp -s "$body" "$root/index.html"
    fetch "$base/big.bin"
    expect "GET /big.bin" 200 Content-Type application/octet-stream Content-Length 300000
    check "big.bin arrives whole (several chunks)" cmp -s "$body" "$root/big.bin"
    fetch "$base/sub"; expect "directory without slash" 301 Location /sub/
    fetch "$base/sub/"; check "/sub/ serves its index" cmp -s "$body" "$root/sub/index.html"

    # HEAD: the same fields, no body.
    fetch -I "$base/big.bin"
    expect "HEAD /big.bin" 200 Content-Length 300000 Content-Type application/octet-stream
    # curl -I writes the head where a body would go: nothing may follow it.
    check "HEAD has no body" cmp -s "$body" "$hdr"

    # Validators: 304 from the ETag and from the date of a first answer.
    fetch "$base/style.css"
    local etag modified; etag=$(header ETag); modified=$(header Last-Modified)
    check "ETag and Last-Modified present" test -n "$etag" -a -n "$modified"
    fetch -H "If-None-Match: $etag" "$base/style.css"; expect "If-None-Match" 304 ETag "$etag"
    check "304 has no body" [ ! -s "$body" ]
    fetch -H 'If-None-Match: W/"other"' "$base/style.css"; expect "If-None-Match other" 200
    fetch -H "If-Modified-Since: $modified" "$base/style.css"; expect "If-Modified-Since" 304
    fetch -H "If-Modified-Since: Thu, 01 Jan 1998 00:00:00 GMT" "$base/style.css"
    expect "If-Modified-Since long ago" 200

    # Keep-alive: two URLs in one curl run share one connection.
    local connects
    connects=$(timeout 20 curl -sS --noproxy "*" --max-time 15 "${CURL_TLS[@]}" -o /dev/null -o /dev/null \
        --write-out '%{num_connects}\n' "$base/style.css" "$base/app.js" | awk '{s += $1} END {print s}')
    check "curl: two requests, $connects connection(s), wanted 1" [ "$connects" = 1 ]

    fetch "$base/missing.html"; expect "missing file" 404
    fetch "$base/.env"; expect "dotfile" 404
    fetch -X POST -d 'x=1' "$base/index.html"; expect "POST" 405 Allow "GET, HEAD"
    fetch -X POST "$base/index.html"; expect "POST without a body" 405 Allow "GET, HEAD"
    fetch -X PUT "$base/index.html"; expect "PUT" 405 Allow "GET, HEAD"
    fetch -X PUT --data-binary @"$root/big.bin" "$base/index.html"
    expect "PUT with a 300 KB body" 405 Allow "GET, HEAD"
    fetch -X DELETE "$base/index.html"; expect "DELETE" 405 Allow "GET, HEAD"

    # Every way out of the root. curl --path-as-is sends the path untouched.
    local t
    for t in '/../secret.txt:400' '/%2e%2e/secret.txt:400' '/%2E%2e%2fsecret.txt:400' \
             '/..%2fsecret.txt:400' '/%252e%252e/secret.txt:404' '/a/../../secret.txt:400' \
             '/sub/..%5csecret.txt:400' '/sub/..\secret.txt:400' '/index.html%00:400' \
             '/%00/../secret.txt:400' '/a/%2e%2e/%2e%2e/secret.txt:400' '/..:400' \
             '//..//secret.txt:400' '/abs_link.txt:404' '/rel_link.txt:404' \
             '/outdir/secret.txt:404' '/outdir/:404'; do
        fetch --path-as-is "$base${t%:*}"; expect "traversal ${t%:*}" "${t##*:}"
    done
    # An absolute-form target naming a file outside: the path is what counts.
    fetch --path-as-is --request-target "http://127.0.0.1/../secret.txt" "$base/"
    expect "absolute-form traversal" 400

    # Oversized requests.
    local big; big=$(head -c 20480 /dev/zero | tr '\0' a)
    fetch -H "X-Big: $big" "$base/"; expect "20 KiB header" 431
    fetch "$base/$(head -c 9216 /dev/zero | tr '\0' b)"; expect "9 KiB target" 414
}

# ---- http:// and ws:// ------------------------------------------------------------------
CURL_TLS=()
start_server plain ROOT="$root" ORIGINS="https://good.example, http://also.example" HANDSHAKE_MS=500
plain_port=$port
curl_suite "http://127.0.0.1:$plain_port"
timeout 90 "$PY" tests/c/web_server_peer.py http "$plain_port" "$root" "$SECRET" "$tmp/plain.log" "$out" ||
    failed=$((failed + 1))

# Without a root, a plain request gets the clear 400 of a WebSocket-only server.
start_server noroot
fetch "http://127.0.0.1:$port/"; expect "no static root" 400
check "no static root: says why" grep -q "WebSocket server only" "$body"

# An upgrade decision in C (TOKEN): the right token opens with a Set-Cookie on the 101, a
# wrong or missing one gets 401 with the example's body.
start_server token TOKEN=s3cret
timeout 20 "$PY" - "$port" > "$tmp/token.out" 2>&1 <<'PY'
import sys, warnings
warnings.simplefilter("ignore")
from websockets.sync.client import connect
from websockets.exceptions import InvalidStatus
url = "ws://127.0.0.1:%s" % sys.argv[1]
with connect(url + "/play?room=1&token=s3cret") as c:
    print("accepted", c.recv(timeout=5), c.response.headers.get("Set-Cookie"))
for path in ("/play?token=wrong", "/play", "/play?token=s3cretX"):
    try:
        connect(url + path, open_timeout=5)
        print("accepted", path)
    except InvalidStatus as e:
        print("refused", path, e.response.status_code, e.response.body.decode().strip())
PY
check "token: accepted with a cookie" grep -qF "accepted hello /play?room=1&token=s3cret seen=1; HttpOnly; SameSite=Strict" "$tmp/token.out"
for path in "/play?token=wrong" "/play" "/play?token=s3cretX"; do
    check "token: $path refused" grep -qF "refused $path 401 missing or wrong token" "$tmp/token.out"
done

# ---- https:// and wss:// ----------------------------------------------------------------
CURL_TLS=(--cacert "$tmp/cert.pem")
start_server tls ROOT="$root" ORIGINS="https://good.example" HANDSHAKE_MS=500 \
    TLS_CERT="$tmp/cert.pem" TLS_KEY="$tmp/key.pem"
tls_port=$port
curl_suite "https://127.0.0.1:$tls_port"
CA="$tmp/cert.pem" timeout 90 "$PY" tests/c/web_server_peer.py https "$tls_port" "$root" \
    "$SECRET" "$tmp/tls.log" "$out" || failed=$((failed + 1))
# The TLS port speaks nothing but TLS.
fetch "http://127.0.0.1:$tls_port/"
check "plain http to the TLS port is not served ($code)" [ "$code" != 200 ]

# ---- nothing outside the root, ever -------------------------------------------------------
if grep -rqF "$SECRET" "$out"; then
    check "the secret never appears in a response: found in $(grep -rlF "$SECRET" "$out")" false
else
    check "the secret never appears" true
fi

# SIGTERM: the example frees its app and says bye.
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
for log in plain noroot token tls; do
    check "$log server stops cleanly" grep -q '^bye$' "$tmp/$log.log"
done
echo "web server (curl): $passed passed, $failed failed"
if [ "$failed" -gt 0 ]; then
    for log in plain tls; do echo "--- $log.log"; tail -30 "$tmp/$log.log"; done
    exit 1
fi
