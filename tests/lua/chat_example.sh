#!/usr/bin/env bash
# examples/chat/server.lua, started as `make demo` starts it (examples/demo.sh) with PORT=0:
# it prints the real port and one "open" line with the http:// URL of the page it serves
# itself; the page comes from that URL; a client joining as /chat?name=ann is called ann and
# its 101 answer sets the cookie name=ann; a client sending that cookie (and no ?name=) is
# called ann too, ?name= wins over the cookie, and a name that is not a plain word is
# ignored (guestN); two clients with subprotocol "chat" both receive every message. HOST=
# picks the address it listens on; ORIGINS= lists the browser origins it accepts (403 for
# the others, clients without Origin accepted). Without ORIGINS only its own page's origin
# connects (127.0.0.1 or localhost): another origin gets 403. A "/nick" with a bad name is
# refused as a bad name on joining is; a message's line breaks arrive as spaces; two
# connections with the same cookie get different names, and a taken name cannot be taken
# by "/nick".
set -uo pipefail
cd "$(dirname "$0")/../.."
command -v luajit >/dev/null || { echo "chat_example: luajit is not installed" >&2; exit 1; }
py=build/venv/bin/python
[ -x $py ] || { echo "chat_example: $py missing (run tests/setup.sh)" >&2; exit 1; }
: "${LUNA_LIB:=$PWD/target/release/libluna.so}"
export LUNA_LIB
log=$(mktemp); log2=$(mktemp); pid=; pid2=
trap 'kill $pid $pid2 2>/dev/null; rm -f "$log" "$log2"' EXIT
fail() { echo "chat_example: $1"; cat "$2"; exit 1; }

# Starts a server with its output in $1; sets $port to the port it prints.
wait_port() {
    for _ in $(seq 50); do grep -q "listening on" "$1" && break; sleep 0.1; done
    port=$(sed -n 's|.*listening on ws://[^ ]*:\([0-9]*\) .*|\1|p' "$1")
}
PORT=0 bash examples/demo.sh >"$log" 2>&1 &
pid=$!
wait_port "$log"
[ -n "$port" ] && [ "$port" != 0 ] || fail "PORT=0: no real port printed:" "$log"
[ "$(grep -c "open " "$log")" = 1 ] || fail "not exactly one 'open' line:" "$log"
grep -q "^open http://127.0.0.1:$port/ in a browser" "$log" ||
    fail "the 'open' line is not the page's http:// URL with port $port:" "$log"
timeout 20 $py - "$port" <<'PY' || exit 1
import http.client, sys, warnings
warnings.simplefilter("ignore")
from websockets.sync.client import connect
from websockets.exceptions import InvalidStatus
page = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
page.request("GET", "/")
r = page.getresponse()
body = r.read().decode()
assert r.status == 200 and "<h1>luna chat</h1>" in body, (r.status, body[:200])
assert r.getheader("Content-Type") == "text/html; charset=utf-8", r.getheader("Content-Type")
url = "ws://127.0.0.1:%s" % sys.argv[1]
def recv(c):
    """The next line but the "left" line of an earlier connection, which may still come, and
    the "you are" line each connection gets after its own "joined"."""
    line = c.recv(timeout=5)
    while line.endswith(" left") or line.startswith("* you are "):
        line = c.recv(timeout=5)
    return line
with connect(url + "/chat?name=ann", subprotocols=["chat"]) as named:
    assert recv(named) == "* ann joined"
    cookie = named.response.headers.get("Set-Cookie")
    assert cookie == "name=ann; Path=/; SameSite=Strict", cookie
with connect(url + "/chat", subprotocols=["chat"], additional_headers={"Cookie": "theme=dark; name=ann"}) as c:
    assert recv(c) == "* ann joined"
    assert c.response.headers.get("Set-Cookie") is None   # nothing new to remember
with connect(url + "/chat?name=bo", subprotocols=["chat"], additional_headers={"Cookie": "name=ann"}) as c:
    assert recv(c) == "* bo joined"
with connect(url + "/chat", subprotocols=["chat"], additional_headers={"Cookie": "name=a%20b<"}) as c:
    joined = recv(c)
    assert joined.startswith("* guest") and joined.endswith(" joined"), joined
with connect(url, subprotocols=["chat"]) as a, connect(url, subprotocols=["chat"]) as b:
    assert a.subprotocol == "chat", a.subprotocol
    recv(a)                                # "* guestN joined" (a's own)
    joined = recv(a)                       # b joined
    assert joined.endswith("joined"), joined
    recv(b)
    a.send("hello room")
    got_a, got_b = recv(a), recv(b)
    assert got_a == got_b and got_a.endswith(": hello room"), (got_a, got_b)

# Without ORIGINS: the page's own origin (127.0.0.1 or localhost) connects, others get 403.
for origin in ("http://127.0.0.1:%s" % sys.argv[1], "http://localhost:%s" % sys.argv[1]):
    with connect(url + "/chat", subprotocols=["chat"], origin=origin) as c:
        assert recv(c).endswith(" joined"), origin
for origin in ("http://evil.example", "http://127.0.0.1:1", "https://127.0.0.1:%s" % sys.argv[1]):
    try:
        connect(url + "/chat", subprotocols=["chat"], origin=origin)
        raise SystemExit("a page from %s was accepted" % origin)
    except InvalidStatus as e:
        assert e.response.status_code == 403, (origin, e.response.status_code)

# Names: the same cookie twice gets two names; "/nick" checks the name as joining does.
cookie = {"Cookie": "name=ann"}
with connect(url + "/chat", subprotocols=["chat"], additional_headers=cookie) as x, \
     connect(url + "/chat", subprotocols=["chat"], additional_headers=cookie) as y:
    assert x.recv(timeout=5) == "* ann joined"
    assert x.recv(timeout=5) == "* you are ann"
    assert y.recv(timeout=5) == "* ann2 joined"
    assert y.recv(timeout=5) == "* you are ann2"
    assert x.recv(timeout=5) == "* ann2 joined"
    for bad in ("/nick a<b>", "/nick a\nb", "/nick " + "x" * 25):
        y.send(bad)
        answer = y.recv(timeout=5)
        assert answer.startswith("* not a name"), (bad, answer)
    y.send("/nick ANN")
    assert y.recv(timeout=5) == "* ANN is taken"
    # A line break cannot start a line that looks like the server's.
    y.send("hi\n* ann left\r\u2028* x joined")
    got = x.recv(timeout=5)
    assert got == "ann2: hi * ann left  * x joined", repr(got)
    assert y.recv(timeout=5) == got
    y.send("/nick bob")
    assert x.recv(timeout=5) == "* ann2 is now bob"
    assert y.recv(timeout=5) == "* ann2 is now bob"
    assert y.recv(timeout=5) == "* you are bob"
PY

# HOST=127.0.0.2 (still loopback): it listens there, and the page is told to connect there.
(cd /tmp && HOST=127.0.0.2 ORIGINS="http://a.example, http://b.example" exec luajit "$OLDPWD/examples/chat/server.lua" 0) >"$log2" 2>&1 &
pid2=$!
wait_port "$log2"
[ -n "$port" ] || fail "HOST=127.0.0.2: server did not start:" "$log2"
grep -q "listening on ws://127.0.0.2:$port " "$log2" || fail "HOST=127.0.0.2 not used:" "$log2"
grep -q "^open http://127.0.0.2:$port/ " "$log2" || fail "the page is not sent to 127.0.0.2:" "$log2"
timeout 10 $py -c '
import sys, warnings
warnings.simplefilter("ignore")
from websockets.sync.client import connect
from websockets.exceptions import InvalidStatus
url = "ws://127.0.0.2:%s" % sys.argv[1]
for origin in (None, "http://a.example", "http://b.example"):
    with connect(url, subprotocols=["chat"], origin=origin) as c:
        assert c.recv(timeout=5).endswith("joined")
try:
    connect(url, subprotocols=["chat"], origin="http://c.example")
    raise SystemExit("an origin not in ORIGINS was accepted")
except InvalidStatus as e:
    assert e.response.status_code == 403, e.response.status_code
' "$port" || fail "no chat on 127.0.0.2:$port, or ORIGINS not applied" "$log2"
echo "chat_example: passed"
