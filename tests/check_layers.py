#!/usr/bin/env python3
"""Checks that imports inside src/ run one way, down the layers of docs/ARCHITECTURE.md,
and that `unsafe` appears only in src/ffi/. Exits non-zero and names each violation."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "src"
# Lower number = higher layer. A module may use modules with a larger number only.
LAYERS = {
    "ffi": 1,
    "app": 2,
    "server": 3, "client": 3, "cluster": 3,
    "session": 4, "handshake": 4, "upgrade": 4, "keepalive": 4,
    "conn": 5,
    "send_path": 6,
    "wire": 7, "outbox": 7,
    # The leaves: events and TLS sit on config, backlog, wakeup and the TLS stream; every
    # module may use error (topics uses nothing else); http's WebSocket handshake uses
    # frame's permessage-deflate negotiation.
    "event": 8, "tls": 8, "http": 10, "frame": 11, "rate_limit": 10,
    "config": 9, "backlog": 9, "wakeup": 9, "runtime": 9, "tls_stream": 9, "topics": 9,
    "resp": 9, "resume": 9, "admission": 9, "stats": 9, "interrupt": 9, "send_budget": 9,
    "error": 12, "id_hash": 12, "inbox": 12,
    # Tests only: the fuzz targets' seed corpora, replayed by the leaves' fuzz.rs tests.
    "fuzz_corpus": 13,
}
USE = re.compile(r"\bcrate::([a-z_]+)")


def module_of(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def main() -> int:
    problems = []
    for path in sorted(ROOT.rglob("*.rs")):
        if path.name == "lib.rs":
            continue
        here = module_of(path)
        if here not in LAYERS:
            problems.append(f"{path}: module '{here}' has no layer in tests/check_layers.py")
            continue
        text = path.read_text()
        for used in sorted(set(USE.findall(text))):
            if used == here:
                continue
            if used not in LAYERS:
                problems.append(f"{path}: uses unknown module crate::{used}")
            elif LAYERS[used] <= LAYERS[here]:
                problems.append(f"{path}: '{here}' (layer {LAYERS[here]}) imports "
                                f"'{used}' (layer {LAYERS[used]}): imports must run down")
        if here != "ffi" and re.search(r"\bunsafe\b", text):
            problems.append(f"{path}: `unsafe` outside src/ffi/")
    for line in problems:
        print(line)
    print(f"layers: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
