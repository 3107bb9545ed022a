#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (fuzz/corpus/TARGET/NAME): valid and broken
frames for `frames` (the first byte is the harness's setup byte: bit 0 deflate, bit 1 a 64-byte
frame limit, bit 2 a 100-byte message limit, bits 3-7 the read size), request and response
values for `extensions`, permessage-deflate payloads for `inflate` (the setup byte: bit 0
context takeover, bits 1-3 the window as 8 + n bits, bit 4 messages each led by a length byte,
bit 5 a 100-byte limit), and HTTP request heads for `request`. Run it again after changing the
seeds; the files are committed."""
import pathlib
import struct
import zlib

HERE = pathlib.Path(__file__).resolve().parent
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])


def header(first, mask_bit, n):
    if n < 126:
        return bytes([first, mask_bit | n])
    if n < 65536:
        return bytes([first, mask_bit | 126]) + struct.pack(">H", n)
    return bytes([first, mask_bit | 127]) + struct.pack(">Q", n)


def masked(first, payload):
    body = bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))
    return header(first, 0x80, len(payload)) + KEY + body


def unmasked(first, payload):
    return header(first, 0, len(payload)) + payload


# Each frame seed in both roles: client frames (masked) and server frames (unmasked).
FRAMES = {
    "hello": [(0x81, b"Hello")],
    "fragmented": [(0x01, b"Hel"), (0x80, b"lo")],
    "ping_between": [(0x01, b"Hel"), (0x89, b"ping"), (0x80, b"lo")],
    "pong": [(0x8A, b"Hello")],
    "binary_256": [(0x82, bytes(range(256)))],
    "close_normal": [(0x88, b"\x03\xe8bye")],
    "close_empty": [(0x88, b"")],
    "close_1005": [(0x88, b"\x03\xed")],
    "close_one_byte": [(0x88, b"\x03")],
    "close_bad_reason": [(0x88, b"\x03\xe8\xff")],
    "utf8_split": [(0x01, b"a\xe2\x82"), (0x80, b"\xacb")],
    "utf8_bad": [(0x81, b"ok\xed\xa0\x80")],
    "rsv2": [(0xA1, b"x")],
    "reserved_opcode": [(0x83, b"")],
    "ping_fragmented": [(0x09, b"")],
    "ping_long": [(0x89, bytes(126))],
    "continuation_alone": [(0x80, b"x")],
    "interrupted": [(0x01, b"a"), (0x81, b"b")],
    "compressed": [(0xC1, b"\xf2\x48\xcd\xc9\xc9\x07\x00"), (0x41, b"x"), (0x80, b"y")],
    "good_then_bad": [(0x81, b"good message"), (0x81, b"bad \xff")],
}


def write(target, name, data):
    path = HERE / "corpus" / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def frame_seeds():
    for name, frames in FRAMES.items():
        client = b"".join(masked(f, p) for f, p in frames)
        server = b"".join(unmasked(f, p) for f, p in frames)
        setup = 0x01 if name == "compressed" else 0x00
        write("frames", f"{name}_masked", bytes([setup]) + client)
        write("frames", f"{name}_unmasked", bytes([setup | 0x18]) + server)
    write("frames", "high_bit_length", b"\x00\x82\xff\x80" + bytes(7) + KEY)
    write("frames", "huge_header", b"\x00\x82\xff\x00\x00\x00\x00\x40\x00\x00\x00" + KEY)
    # The start of a 64 KiB frame: AFL wants small seeds, and this reaches the 8-byte length.
    write("frames", "binary_64k_start", b"\x00" + header(0x82, 0x80, 65536) + KEY + bytes(16))
    write("frames", "non_minimal_length", b"\x00\x82\x7e\x00\x03abc")
    write("frames", "small_limits", b"\x06" + masked(0x02, bytes(60)) + masked(0x80, bytes(60)))
    write("frames", "bytewise", b"\x08" + masked(0x81, "κόσμε".encode()))


EXTENSIONS = {
    "browser": "permessage-deflate; client_max_window_bits",
    "all_params": "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
    "server_max_window_bits=10; client_max_window_bits=12",
    "several": "permessage-deflate; server_max_window_bits=8, permessage-deflate; "
    "client_max_window_bits, x-webkit-deflate-frame",
    "quoted": 'permessage-deflate; client_max_window_bits="10"; foo="a,b;\\"c"',
    "duplicate": "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "unknown": "permessage-deflate; unknown=1",
    "bad_bits": "permessage-deflate; server_max_window_bits=08; client_max_window_bits=16",
    "response": "permessage-deflate; server_no_context_takeover; client_max_window_bits=9",
    "two_responses": "permessage-deflate, permessage-deflate",
    "empty": "",
}


def extension_seeds():
    for name, value in EXTENSIONS.items():
        write("extensions", name, value.encode())


def inflate_setup(bits=15, takeover=False, framed=False, small=False):
    return bytes([(1 if takeover else 0) | (bits - 8) << 1 | (0x10 if framed else 0)
                  | (0x20 if small else 0)])


def deflate_messages(messages, bits=15, level=6, takeover=True):
    """Each message deflated with a sync flush and its 00 00 FF FF tail removed (RFC 7692)."""
    out = []
    compressor = None
    for message in messages:
        if compressor is None or not takeover:
            compressor = zlib.compressobj(level, zlib.DEFLATED, -bits)
        payload = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert payload.endswith(b"\x00\x00\xff\xff")
        out.append(payload[:-4])
    return out


def finished(message):
    """A whole deflate stream (Z_FINISH: BFINAL set), as some peers send each message."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(message) + compressor.flush(zlib.Z_FINISH)


def framed(payloads):
    assert all(len(p) < 256 for p in payloads)
    return b"".join(bytes([len(p)]) + p for p in payloads)


def game_state(tick):
    players = ",".join(
        f'{{"id":{1000 + i},"name":"player_{i}","x":{100 + 7.31 * i + tick * 0.5:.2f},'
        f'"y":{300 - 3.7 * i + tick * 0.25:.2f},"hp":{100 - i},"team":"{"red" if i % 2 else "blue"}"}}'
        for i in range(3))
    return f'{{"tick":{tick},"players":[{players}]}}'.encode()


HELLO = bytes.fromhex("f248cdc9c90700")
INFLATE = {
    # RFC 7692 §7.2.3.1-6.
    "rfc_hello": inflate_setup() + HELLO,
    "rfc_takeover_two": inflate_setup(takeover=True, framed=True)
    + framed([HELLO, bytes.fromhex("f200110000")]),
    "rfc_stored": inflate_setup() + bytes.fromhex("000500faff48656c6c6f00"),
    "rfc_bfinal": inflate_setup() + bytes.fromhex("f348cdc9c9070000"),
    "rfc_two_blocks": inflate_setup() + bytes.fromhex("f248050000 00ffffcac9c90700".replace(" ", "")),
    "rfc_empty": inflate_setup() + b"\x00",
    "bfinal_without_padding": inflate_setup(takeover=True, framed=True)
    + framed([finished(b"Hello"), HELLO]),
    "bfinal_then_garbage": inflate_setup() + bytes.fromhex("f348cdc9c90700") + b"\x01\x02",
    "game_takeover": inflate_setup(takeover=True, framed=True)
    + framed(deflate_messages([game_state(t) for t in range(3)])),
    "game_no_takeover_9_bits": inflate_setup(bits=9, framed=True)
    + framed(deflate_messages([game_state(t) for t in range(3)], bits=9, takeover=False)),
    "game_small_limit": inflate_setup(bits=12, small=True) + deflate_messages([game_state(1)], 12)[0],
    "dynamic_huffman": inflate_setup(bits=8) + deflate_messages([game_state(7) * 4], 9, level=9)[0],
    "stored_fast": inflate_setup(bits=10) + deflate_messages([bytes(range(256))], 10, level=0)[0],
    # 1 MiB of zeros in about a KiB: past the 64 KiB limit.
    "bomb": inflate_setup() + deflate_messages([bytes(1 << 20)], level=9)[0],
    "truncated": inflate_setup() + deflate_messages([game_state(2)])[0][:40],
    "reserved_block_type": inflate_setup() + b"\xff\xff\xff",
    "distance_too_far": inflate_setup(takeover=True) + bytes.fromhex("f200110000"),
    "stored_bad_nlen": inflate_setup() + bytes.fromhex("0005000000") + b"Hello",
}


def inflate_seeds():
    for name, data in INFLATE.items():
        write("inflate", name, data)


def head(*lines, body=b""):
    return "".join(line + "\r\n" for line in lines).encode() + b"\r\n" + body


WS_KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
REQUESTS = {
    "chrome_upgrade": head(
        "GET /chat?room=lobby HTTP/1.1", "Host: game.example.com:8080", "Connection: Upgrade",
        "Pragma: no-cache", "Cache-Control: no-cache",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        "Upgrade: websocket", "Origin: https://game.example.com", "Sec-WebSocket-Version: 13",
        "Accept-Encoding: gzip, deflate, br, zstd", "Accept-Language: en-GB,en;q=0.9",
        "Cookie: session=3f2a9c; theme=dark; _ga=GA1.2.1234567890.1700000000", WS_KEY,
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "Sec-WebSocket-Protocol: game.v2, game.v1"),
    "firefox_upgrade": head(
        "GET /ws HTTP/1.1", "Host: localhost:9001",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Accept: */*", "Sec-WebSocket-Version: 13", "Origin: http://localhost:9001",
        "Sec-WebSocket-Extensions: permessage-deflate", WS_KEY, "Connection: keep-alive, Upgrade",
        "Sec-Fetch-Dest: empty", "Sec-Fetch-Mode: websocket", "Upgrade: websocket"),
    "static_get": head(
        "GET /assets/app.js?v=3 HTTP/1.1", "Host: example.com", "Accept: */*",
        "If-Modified-Since: Wed, 21 Oct 2015 07:28:00 GMT", "Connection: keep-alive"),
    "http10": head("GET / HTTP/1.0"),
    "options_asterisk": head("OPTIONS * HTTP/1.1", "Host: h"),
    "absolute_form": head("GET http://h:8/x/y?q HTTP/1.1", "Host: h"),
    "post_body": head("POST /submit HTTP/1.1", "Host: h", "Content-Length: 5", body=b"hello"),
    "pipelined": head("GET /a HTTP/1.1", "Host: h") + head("GET /b HTTP/1.1", "Host: h"),
    "leading_empty_lines": b"\r\n\n" + head("GET / HTTP/1.1", "Host: h"),
    "bare_lf": b"GET /x HTTP/1.1\nHost: h\nA: b\n\n",
    "missing_final_crlf": b"GET / HTTP/1.1\r\nHost: h\r\n",
    "bad_method": head("G@T / HTTP/1.1", "Host: h"),
    "version_2": head("GET / HTTP/2.0", "Host: h"),
    "nul_in_value": head("GET / HTTP/1.1", "Host: a\x00b"),
    "obs_fold": head("GET / HTTP/1.1", "Host: h", "X: a", " folded"),
    "duplicate_host": head("GET / HTTP/1.1", "Host: a", "Host: b"),
    "chunked": head("POST / HTTP/1.1", "Host: h", "Transfer-Encoding: chunked"),
    "conflicting_length": head("POST / HTTP/1.1", "Host: h", "Content-Length: 3",
                               "Content-Length: 4"),
    "bare_cr": b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
    "long_target": head("GET /" + "a" * 8200 + " HTTP/1.1", "Host: h"),
    # Past the 16 KiB head limit by its cookies.
    "huge_header": head("GET / HTTP/1.1", "Host: h", *["Cookie: c%d=%s" % (i, "v" * 60)
                                                        for i in range(260)]),
}


def request_seeds():
    for name, data in REQUESTS.items():
        write("request", name, data)


if __name__ == "__main__":
    frame_seeds()
    extension_seeds()
    inflate_seeds()
    request_seeds()
