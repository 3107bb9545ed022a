#!/usr/bin/env bash
# A short, bounded fuzzing run (10 s per target, about 40 s of fuzzing) of the frame decoder,
# the extension parser, the permessage-deflate inflater and the HTTP request-head parser;
# installs cargo-afl and AFL++ itself, and fails loudly when it cannot or when a target
# crashes. `make fuzz` runs the same for longer.
set -euo pipefail
FUZZ_SECONDS=${FUZZ_SECONDS:-10} exec bash "$(dirname "$0")/../fuzz/run.sh"
