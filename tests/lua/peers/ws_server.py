"""A WebSocket server written with Python's websockets, for the lunac and C client tests.

usage: ws_server.py MODE [ARG...]   (prints "PORT n" once listening, then what it observed)

  echo [N]          echo every message as it came (text or binary) until N connections
                    (default 1) have closed; prints "header NAME: VALUE" for X-*,
                    Sec-WebSocket-Protocol and Sec-WebSocket-Extensions request headers,
                    "extensions VALUE" for the permessage-deflate it answered (websockets
                    compresses by default: server_max_window_bits=12 and
                    client_max_window_bits=12), and at each close "compressed IN OUT" (the
                    compressed messages it received and sent) and "close CODE REASON"
  tls CERT KEY [N]  the same over TLS (wss://) with that certificate and key
  ping              send a ping on connect, print "pong" once it is answered, then echo
  close CODE REASON close every connection at once with CODE and REASON
  status CODE [TEXT N]  answer the upgrade request with HTTP CODE (body: TEXT repeated N times)
  noproto           complete the upgrade but never choose a subprotocol
  drop              raw TCP: read the request head, then drop the connection unanswered
  silent            raw TCP: accept (prints "accepted") and never answer, until the client
                    hangs up

It exits by itself when its work is done, or with status 3 after 30 s.
"""
import asyncio
import ssl
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response
from websockets.datastructures import Headers

MODE, ARGS = sys.argv[1], sys.argv[2:]
LIFETIME = 30


def say(*words):
    print(*words, flush=True)


def count_compressed(ws):
    """Counts the compressed messages (RSV1 on their first frame) each way."""
    counts = {"in": 0, "out": 0}
    for ext in ws.protocol.extensions:
        decode, encode = ext.decode, ext.encode

        def counted_decode(frame, *, max_size=None, decode=decode):
            counts["in"] += bool(frame.rsv1)
            return decode(frame, max_size=max_size)

        def counted_encode(frame, encode=encode):
            frame = encode(frame)
            counts["out"] += bool(frame.rsv1)
            return frame
        ext.decode, ext.encode = counted_decode, counted_encode
    return counts


async def echo(ws):
    try:
        async for msg in ws:
            await ws.send(msg)
    except ConnectionClosed:
        pass


async def run_ws(handler, done, **kw):
    async with serve(handler, "127.0.0.1", 0, max_size=None, **kw) as server:
        say("PORT", server.sockets[0].getsockname()[1])
        await done.wait()


async def main():
    global MODE, ARGS
    done = asyncio.Event()
    tls = {}
    if MODE == "tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS[0], ARGS[1])
        tls, MODE, ARGS = {"ssl": ctx}, "echo", ARGS[2:]
    if MODE in ("echo", "ping"):
        want = int(ARGS[0]) if ARGS else 1
        closed = 0

        async def handler(ws):
            nonlocal closed
            counts = count_compressed(ws)
            try:
                for name, value in ws.request.headers.raw_items():
                    if name.lower().startswith(("x-", "sec-websocket-protocol",
                                                "sec-websocket-extensions")):
                        say("header", name + ":", value)
                say("extensions", ws.response.headers.get("Sec-WebSocket-Extensions"))
                if MODE == "ping":
                    await asyncio.wait_for(await ws.ping(b"hello?"), 5)
                    say("pong")
                await echo(ws)
            finally:
                await ws.wait_closed()
                say("compressed", counts["in"], counts["out"])
                say("close", ws.close_code, ws.close_reason)
                closed += 1
                if closed >= want:
                    done.set()
        await run_ws(handler, done, **tls)
    elif MODE == "close":
        code, reason = int(ARGS[0]), ARGS[1]

        async def handler(ws):
            await ws.close(code, reason)
            say("closed", ws.close_code)
            done.set()
        await run_ws(handler, done)
    elif MODE == "status":
        status = int(ARGS[0])
        body = (ARGS[1] * int(ARGS[2])).encode() if len(ARGS) > 2 else b""

        def refuse(connection, request):
            done.set()
            return Response(status, "Nope", Headers([("Content-Length", str(len(body)))]), body)
        await run_ws(echo, done, process_request=refuse)
    elif MODE == "noproto":
        async def handler(ws):
            say("subprotocol", ws.subprotocol)
            await ws.wait_closed()
            done.set()
        await run_ws(handler, done, select_subprotocol=lambda conn, offered: None)
    elif MODE in ("drop", "silent"):
        async def raw(reader, writer):
            if MODE == "drop":
                await reader.readuntil(b"\r\n\r\n")
                say("dropped")
            else:
                say("accepted")
                await reader.read()  # until the client gives up
                say("client hung up")
            writer.transport.abort()
            done.set()
        server = await asyncio.start_server(raw, "127.0.0.1", 0)
        say("PORT", server.sockets[0].getsockname()[1])
        await done.wait()
        server.close()
    else:
        sys.exit("unknown mode " + MODE)
    await asyncio.sleep(0.1)


try:
    asyncio.run(asyncio.wait_for(main(), LIFETIME))
except asyncio.TimeoutError:
    say("peer: gave up after", LIFETIME, "s")
    sys.exit(3)
