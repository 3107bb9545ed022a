#!/usr/bin/env python3
"""Connect / echo / close cycles against a WebSocket echo server, with raw sockets.

usage: load.py PORT CYCLES [PARALLEL]
Each cycle: TCP connect, upgrade, one masked 32-byte text message, its echo checked, a
close 1000 answered by the server, TCP closed. Every 10th cycle instead drops TCP without a
closing handshake, and every 50th sends a bad frame (rsv bit set) and expects 1002: the
server's error paths run as often as its happy path. Exits non-zero on the first failure.
"""
import base64, os, socket, struct, sys, threading

def frame(opcode, payload, rsv=0):
    mask = os.urandom(4)
    head = bytes([0x80 | (rsv << 4) | opcode, 0x80 | len(payload)])
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed early")
        data += chunk
    return data

def read_frame(s):
    b0, b1 = read_exact(s, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(s, 8))[0]
    return b0 & 0x0F, read_exact(s, n)

def cycle(port, i):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += read_exact(s, 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        if i % 50 == 49:
            s.sendall(frame(1, b"bad", rsv=4))
            op, payload = read_frame(s)
            assert op == 8 and payload[:2] == b"\x03\xea", (op, payload)
            return
        msg = ("message %08d of the load" % i).encode()[:32].ljust(32, b".")
        s.sendall(frame(1, msg))
        op, payload = read_frame(s)
        assert (op, payload) == (1, msg), (op, payload)
        if i % 10 == 9:
            return  # vanish without a closing handshake
        s.sendall(frame(8, b"\x03\xe8"))
        op, payload = read_frame(s)
        assert op == 8, op
        assert s.recv(1) == b"", "server closes TCP after the handshake"
    finally:
        s.close()

def main():
    port, cycles = int(sys.argv[1]), int(sys.argv[2])
    parallel = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    failures = []
    def worker(w):
        try:
            for i in range(w, cycles, parallel):
                cycle(port, i)
        except Exception as e:  # reported below; the run fails
            failures.append("worker %d: %r" % (w, e))
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(parallel)]
    for t in threads: t.start()
    for t in threads: t.join()
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print("%d cycles done" % cycles)

if __name__ == "__main__":
    main()
