"""Python websockets client (an implementation nobody here wrote) against an echo server
built from luna.h: c-examples/echo_server.c started with subprotocols "chat superchat".
usage: echo_peer.py PORT   (tests/c/python_interop.sh, and under Wine tests/windows/run.sh)
Checks text, binary, empty and 16 MiB echoes, subprotocol choice, ping, close code 4001,
100 concurrent clients and a fragmented message; exits 1 on any failure."""
import asyncio, sys
import websockets

PORT = int(sys.argv[1])
URL = f"ws://127.0.0.1:{PORT}"
passed = failed = 0

def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name} {detail}")

async def main():
    async with websockets.connect(URL, subprotocols=["nope", "superchat", "chat"], max_size=None) as ws:
        check("subprotocol: client order", ws.subprotocol == "superchat", ws.subprotocol)
        for msg in ["hello", "", "ünïcödé 🌙", b"\x00\xff" * 10, b"", bytes(range(256)) * 4096]:
            await ws.send(msg)
            back = await ws.recv()
            check(f"echo {type(msg).__name__} {len(msg)}", back == msg)
        big = b"\xab" * (16 * 1024 * 1024 - 64)
        await ws.send(big)
        check("echo 16 MiB", await ws.recv() == big)
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        check("ping answered", True)
        await ws.close(4001, "interop done")
        check("close code echoed", ws.close_code == 4001, ws.close_code)
    # many clients at once
    async def one(i):
        async with websockets.connect(URL) as ws:
            for j in range(20):
                await ws.send(f"{i}:{j}")
                if await ws.recv() != f"{i}:{j}":
                    return False
            return True
    results = await asyncio.gather(*(one(i) for i in range(100)))
    check("100 concurrent python clients", all(results))
    # fragmented message from a real implementation
    async with websockets.connect(URL) as ws:
        await ws.send(iter(["frag", "mented", " text"]))
        check("fragmented message reassembled", await ws.recv() == "fragmented text")

asyncio.run(main())
print(f"python interop: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
