"""Python's http.client, raw sockets and websockets against the C example web_server
(run by tests/c/web_server.sh, which starts the server with ROOT, ORIGINS=https://good.example
and HANDSHAKE_MS=500).

usage: web_server_peer.py http|https PORT ROOT SECRET SERVER_LOG OUT_DIR   (env CA for https)
"""
import asyncio
import http.client
import os
import re
import socket
import ssl
import sys
import time

import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

SCHEME, PORT, ROOT, SECRET, LOG, OUT = sys.argv[1:7]
PORT = int(PORT)
TLS = SCHEME == "https"
HOST = "127.0.0.1"
CTX = ssl.create_default_context(cafile=os.environ["CA"]) if TLS else None
passed = failed = 0
responses = []  # every byte received, checked for the secret at the end


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL [{SCHEME}] {name} {detail}")


def file_bytes(name):
    with open(os.path.join(ROOT, name), "rb") as f:
        return f.read()


def http_conn():
    if TLS:
        return http.client.HTTPSConnection(HOST, PORT, timeout=10, context=CTX)
    return http.client.HTTPConnection(HOST, PORT, timeout=10)


def raw_socket():
    sock = socket.create_connection((HOST, PORT), timeout=10)
    if TLS:
        sock = CTX.wrap_socket(sock, server_hostname=HOST)
    return sock


def read_all(sock, limit=10.0):
    """Everything until the server closes (or `limit` seconds); b'' on a reset before data."""
    data = b""
    deadline = time.monotonic() + limit
    sock.settimeout(limit)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError, BrokenPipeError) as e:
            data += f"<{type(e).__name__}>".encode()
            break
        except socket.timeout:
            data += b"<timeout>"
            break
        if not chunk:
            break
        data += chunk
    responses.append(data)
    return data


def status_of(raw):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", raw)
    return int(m.group(1)) if m else None


# ---- http.client: several requests on one keep-alive connection -------------------------
def keep_alive():
    conn = http_conn()
    conn.connect()
    first_sock = conn.sock

    def get(method, path, headers=None):
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        responses.append(body)
        return resp, body

    for name, ctype in [("index.html", "text/html"), ("style.css", "text/css"),
                        ("app.js", "text/javascript"), ("data.json", "application/json"),
                        ("big.bin", "application/octet-stream")]:
        resp, body = get("GET", "/" + name)
        want = file_bytes(name)
        check(f"http.client GET /{name}", resp.status == 200 and body == want,
              f"{resp.status} {len(body)} bytes")
        check(f"http.client type /{name}", resp.getheader("Content-Type", "").startswith(ctype),
              resp.getheader("Content-Type"))
        check(f"http.client length /{name}",
              resp.getheader("Content-Length") == str(len(want)))
    resp, body = get("HEAD", "/big.bin")
    check("http.client HEAD", resp.status == 200 and body == b""
          and resp.getheader("Content-Length") == "300000", f"{resp.status} {len(body)}")
    resp, _ = get("GET", "/style.css")
    etag, modified = resp.getheader("ETag"), resp.getheader("Last-Modified")
    resp, body = get("GET", "/style.css", {"If-None-Match": etag})
    check("http.client If-None-Match", resp.status == 304 and body == b"", resp.status)
    resp, body = get("GET", "/style.css", {"If-Modified-Since": modified})
    check("http.client If-Modified-Since", resp.status == 304 and body == b"", resp.status)
    resp, body = get("GET", "/nope.txt")
    check("http.client 404 keeps the connection", resp.status == 404, resp.status)
    resp, body = get("POST", "/index.html")
    check("http.client 405", resp.status == 405 and resp.getheader("Allow") == "GET, HEAD",
          resp.status)
    resp, body = get("GET", "/")
    check("http.client / after errors", resp.status == 200 and body == file_bytes("index.html"))
    check("http.client: one connection for all", conn.sock is first_sock)
    conn.close()


# ---- raw sockets: pipelining, malformed, slow and huge heads -----------------------------
def raw_requests():
    # Two requests in one write: two answers, in order, on the same connection.
    sock = raw_socket()
    sock.sendall(b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"HEAD /app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    raw = read_all(sock)
    sock.close()
    check("pipelined: two answers", raw.count(b"HTTP/1.1 200 OK") == 2, raw[:200])
    check("pipelined: GET body then HEAD without one",
          raw.count(file_bytes("style.css")) == 1 and raw.endswith(b"\r\n\r\n"), raw[-80:])

    for name, request, want in [
        ("malformed request line", b"GARBAGE\r\n\r\n", 400),
        ("HTTP/0.9-style line", b"GET /\r\n\r\n", 400),
        ("bad header line", b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400),
        ("missing Host", b"GET / HTTP/1.1\r\n\r\n", 400),
        ("HTTP/2.0 line", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("NUL in target", b"GET /index.html\x00 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("file request with a body", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 413),
    ]:
        sock = raw_socket()
        sock.sendall(request)
        raw = read_all(sock)
        sock.close()
        check(f"raw: {name} -> {want}", status_of(raw) == want, raw[:80])

    # Half a head, then nothing: dropped after HANDSHAKE_MS (500 ms), without an answer.
    sock = raw_socket()
    start = time.monotonic()
    sock.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n")
    raw = read_all(sock, limit=5)
    took = time.monotonic() - start
    sock.close()
    check("half a head: closed by the server", b"<timeout>" not in raw, raw[:80])
    check("half a head: after about the handshake timeout", 0.3 < took < 3, f"{took:.2f}s")

    # A 64 KiB head sent slowly: the 431 comes at 16 KiB, and the client, still sending,
    # reads it instead of a reset (the server closes in stages, RFC 9112 §9.6).
    sock = raw_socket()
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    for _ in range(64):
        try:
            sock.sendall(b"a" * 1024)
            sent += 1024
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            break
        time.sleep(0.005)
    raw = read_all(sock)
    check("slow 64 KiB head: the 431 is readable", status_of(raw) == 431,
          f"sent {sent}, got {raw[:80]!r}")
    if not TLS:
        # The answer and its FIN came; the server still reads (and drops) what follows for a
        # while instead of resetting. (On loopback the 431 would be readable even after a reset,
        # so this is what shows the staged close.)
        error = None
        for _ in range(16):
            try:
                sock.sendall(b"a" * 4096)
            except OSError as e:
                error = e
                break
            time.sleep(0.01)
        check("after the 431 the server keeps reading (no reset)", error is None, repr(error))
    sock.close()
    # The same at full speed, in one write.
    sock = raw_socket()
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
        pass
    raw = read_all(sock)
    sock.close()
    check("fast 64 KiB head: the 431 is readable", status_of(raw) == 431, raw[:80])
    # A 9 KiB target through http.client.
    conn = http_conn()
    conn.request("GET", "/" + "t" * 9216)
    resp = conn.getresponse()
    responses.append(resp.read())
    check("http.client 9 KiB target -> 414", resp.status == 414, resp.status)
    conn.close()


# ---- WebSocket: the request reaches the handler; the origin allow-list ---------------------
def log_text():
    with open(LOG, encoding="utf-8", errors="replace") as f:
        return f.read()


async def wait_log(pattern, secs=5):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        m = re.search(pattern, log_text(), re.M)
        if m:
            return m
        await asyncio.sleep(0.02)
    return None


async def websocket():
    ws_scheme = "wss" if TLS else "ws"
    base = f"{ws_scheme}://{HOST}:{PORT}"
    kw = {"ssl": CTX} if TLS else {}
    kw["proxy"] = None
    target = "/chat?room=7&token=abc"
    agent = f"luna-test/{SCHEME}"
    cookie = "session=s3cr; theme=dark"
    async with connect(base + target, additional_headers={"Cookie": cookie},
                       user_agent_header=agent, **kw) as ws:
        hello = await asyncio.wait_for(ws.recv(), 5)
        check("ws: hello with path and query", hello == f"hello {target}", hello)
        for msg in ["echo me", b"\x00\x01binary", "x" * 100000]:
            await ws.send(msg)
            check(f"ws: echo {type(msg).__name__} {len(msg)}", await ws.recv() == msg)
    line = await wait_log(rf"^open \d+ GET {re.escape(target)} origin=- "
                          rf"cookie={re.escape(cookie)} user-agent={re.escape(agent)}$")
    check("ws: open line shows method, target, cookie and user agent", line is not None,
          [l for l in log_text().splitlines() if l.startswith("open")][-1:])

    # A pipelined first message: the handshake and a frame in one write (raw socket).
    sock = raw_socket()
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    frame = bytes([0x81, 0x80 | 4, 1, 2, 3, 4]) + bytes(b ^ m for b, m in zip(b"ping", b"\x01\x02\x03\x04"))
    sock.sendall(f"GET /raw HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode() + frame)
    sock.settimeout(5)
    got = b""
    try:
        while got.count(b"ping") < 1 or b"hello /raw" not in got:
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += chunk
    except (socket.timeout, OSError):
        pass
    sock.close()
    check("ws: 101, hello and the pipelined frame echoed",
          got.startswith(b"HTTP/1.1 101") and b"hello /raw" in got and b"ping" in got, got[:200])

    # Origins: listed (any case) connects, another is refused with 403, none connects.
    for origin in ["https://good.example", "HTTPS://GOOD.example"]:
        async with connect(base + "/o", origin=origin, **kw) as ws:
            check(f"origin {origin} connects", await asyncio.wait_for(ws.recv(), 5) == "hello /o")
    line = await wait_log(r"^open \d+ GET /o origin=https://good\.example ")
    check("open line shows the origin", line is not None)
    for origin in ["https://evil.example", "null", "https://good.example.evil.example"]:
        try:
            async with connect(base + f"/evil?o={origin}", origin=origin, **kw):
                check(f"origin {origin} refused", False, "it connected")
        except InvalidStatus as e:
            check(f"origin {origin} refused with 403", e.response.status_code == 403,
                  e.response.status_code)
    check("refused origins never open", "GET /evil" not in log_text())
    check("refusals reported", await wait_log(r"^error .*403") is not None)
    async with connect(base + "/none", **kw) as ws:
        check("no Origin connects", await asyncio.wait_for(ws.recv(), 5) == "hello /none")


keep_alive()
raw_requests()
asyncio.run(websocket())
for i, data in enumerate(responses):
    with open(os.path.join(OUT, f"py-{SCHEME}-{i}.bin"), "wb") as f:
        f.write(data)
check("the secret never appears (python)", not any(SECRET.encode() in r for r in responses))
print(f"web server ({SCHEME}, python): {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
