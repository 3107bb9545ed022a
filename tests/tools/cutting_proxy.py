#!/usr/bin/env python3
"""A TCP proxy that cuts connections: the fault a client meets on a train.

    cutting_proxy.py --target 127.0.0.1:PORT [--listen 127.0.0.1:0] [--cuts N]
                     [--min-bytes A] [--max-bytes B] [--seed S] [--seconds T]

Prints `listening PORT` on stdout once it accepts. Each connection it accepts is forwarded
to the target both ways until a byte budget drawn from [A, B] (bytes forwarded in either
direction) runs out: then both sides are reset (SO_LINGER 0), mid-frame when the budget ends
inside one. After N cuts it forwards without cutting. Each cut is one line on stderr; on
SIGTERM, or after T seconds, it prints `cuts K` on stdout and exits.
"""
import argparse
import asyncio
import random
import signal
import socket
import struct
import sys


def parse_address(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def reset(writer):
    """Closes with RST rather than FIN: the peer sees a dropped connection, not a goodbye."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.close()


class Proxy:
    def __init__(self, args):
        self.args = args
        self.random = random.Random(args.seed)
        self.cuts = 0

    def budget(self):
        if self.cuts >= self.args.cuts:
            return None
        return self.random.randint(self.args.min_bytes, self.args.max_bytes)

    async def serve(self, client_reader, client_writer):
        try:
            host, port = parse_address(self.args.target)
            server_reader, server_writer = await asyncio.open_connection(host, port)
        except OSError:
            reset(client_writer)
            return
        state = {"left": self.budget(), "cut": False,
                 "writers": (client_writer, server_writer)}
        pipes = [
            self.pipe(client_reader, server_writer, state, "up"),
            self.pipe(server_reader, client_writer, state, "down"),
        ]
        await asyncio.gather(*pipes, return_exceptions=True)
        if not state["cut"]:
            for writer in state["writers"]:
                writer.close()

    async def pipe(self, reader, writer, state, direction):
        while not state["cut"]:
            data = await reader.read(65536)
            if not data:
                break
            left = state["left"]
            if left is not None and len(data) >= left:
                writer.write(data[:left])
                await writer.drain()
                self.cut(state, direction, left)
                break
            if left is not None:
                state["left"] = left - len(data)
            writer.write(data)
            await writer.drain()
        if not state["cut"]:
            try:
                writer.write_eof()
            except OSError:
                pass

    def cut(self, state, direction, sent):
        if state["cut"]:
            return
        state["cut"] = True
        for writer in state["writers"]:
            reset(writer)
        self.cuts += 1
        print(f"cut {self.cuts} going {direction} after {sent} more bytes", file=sys.stderr,
              flush=True)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--cuts", type=int, default=100)
    parser.add_argument("--min-bytes", type=int, default=1)
    parser.add_argument("--max-bytes", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=None)
    args = parser.parse_args()
    proxy = Proxy(args)
    host, port = parse_address(args.listen)
    server = await asyncio.start_server(proxy.serve, host, port)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), args.seconds)
    except asyncio.TimeoutError:
        pass
    server.close()
    print(f"cuts {proxy.cuts}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
