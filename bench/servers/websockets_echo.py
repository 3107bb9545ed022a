"""Python `websockets` echo server for make bench.

usage: python bench/servers/websockets_echo.py PORT [deflate]   (prints "ready PORT")
deflate: compression="deflate", websockets' default (permessage-deflate with its default
settings); off otherwise.
Clients asking for the subprotocol "broadcast" form a group that gets every message any of
them sends (websockets.broadcast); every other connection is echoed.
"""

import asyncio
import os
import sys

from websockets.asyncio.server import broadcast, serve
from websockets.exceptions import ConnectionClosed

group = set()


async def handler(ws):
    try:
        if ws.subprotocol == "broadcast":
            group.add(ws)
            try:
                async for message in ws:
                    broadcast(group, message)
            finally:
                group.discard(ws)
        else:
            async for message in ws:
                await ws.send(message)
    except ConnectionClosed:
        pass


def pick(_connection, offered):
    # Serve clients that offer no subprotocol too (the default would refuse them).
    return "broadcast" if "broadcast" in offered else None


async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    compression = "deflate" if sys.argv[2:3] == ["deflate"] else None
    async with serve(
        handler,
        "127.0.0.1",
        port,
        select_subprotocol=pick,
        compression=compression,
        ping_interval=None,
        max_size=None,
    ) as server:
        print("ready", server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(float(os.environ.get("BENCH_SERVER_MAX_SECONDS", "900")))


asyncio.run(main())
