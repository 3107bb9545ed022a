#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (fuzz/corpus/TARGET/NAME): valid and broken
frames for `frames` (the first byte is the harness's setup byte: bit 0 deflate, bit 1 a 64-byte
frame limit, bit 2 a 100-byte message limit, bits 3-7 the read size), and request and response
values for `extensions`. Run it again after changing the seeds; the files are committed."""
import pathlib
import struct

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


if __name__ == "__main__":
    frame_seeds()
    extension_seeds()
