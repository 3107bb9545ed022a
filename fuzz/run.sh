#!/usr/bin/env bash
# Fuzzes each target in fuzz/fuzz_targets for FUZZ_SECONDS (default 60) with AFL++ through
# cargo-afl, coverage-guided on stable Rust (rustc's sancov pass; no nightly, no LLVM plugins).
# Installs cargo-afl and builds its bundled AFL++ (make + cc) first when they are missing.
# Fails, listing the inputs, when a target crashes; a crash input copied into
# fuzz/corpus/TARGET/ becomes a regression test of `cargo test --lib fuzz`.
set -euo pipefail
cd "$(dirname "$0")"

SECONDS_EACH=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-frames extensions inflate request}
# cargo-afl and the `afl` crate in fuzz/Cargo.lock must be the same version.
AFL_VERSION=0.18.2

fail() { echo "fuzz: $*" >&2; exit 1; }

# The cargo subcommand.
if ! cargo afl --version 2>/dev/null | grep -q "^cargo-afl $AFL_VERSION"; then
    echo "fuzz: installing cargo-afl $AFL_VERSION"
    cargo install cargo-afl --version "$AFL_VERSION" --locked \
        || fail "cannot install cargo-afl $AFL_VERSION from crates.io"
fi
# AFL++'s runtime and afl-fuzz, built from the source cargo-afl ships (once per rustc).
if ! out=$(cargo afl config --build 2>&1) && ! grep -q "already built" <<<"$out"; then
    echo "$out" >&2
    fail "cannot build AFL++ with 'cargo afl config --build' (it needs make and a C compiler)"
fi

# build.rs writes the C header: keep this build's copy out of include/.
export LUNA_HEADER_OUT="$PWD/target/luna.h"
mkdir -p target/afl
cargo afl build --release --locked || fail "cannot build the fuzz targets"

# No UI, no core pinning (shared cores), and no demands on the machine's crash and CPU setup.
export AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1

stat() { sed -n "s/^$2 *: //p" "target/afl/$1/default/fuzzer_stats"; }

crashed=()
for target in $TARGETS; do
    out="target/afl/$target"
    rm -rf "$out"
    dict=()
    [ -f "dict/$target.dict" ] && dict=(-x "dict/$target.dict")
    echo "fuzz: $target for ${SECONDS_EACH}s"
    timeout $((SECONDS_EACH + 120)) cargo afl fuzz -V "$SECONDS_EACH" "${dict[@]}" \
        -i "corpus/$target" -o "$out" "target/release/$target" >"$out.log" 2>&1 \
        || { tail -20 "$out.log" >&2; fail "afl-fuzz failed on $target (log: fuzz/$out.log)"; }
    echo "fuzz: $target: $(stat "$target" execs_done) runs, $(stat "$target" corpus_count)" \
        "inputs in the queue, edge coverage $(stat "$target" bitmap_cvg)," \
        "$(stat "$target" saved_crashes) crashes, $(stat "$target" saved_hangs) hangs"
    for input in "$out"/default/crashes/id:*; do
        [ -e "$input" ] || continue
        crashed+=("$input")
    done
done

if [ ${#crashed[@]} -gt 0 ]; then
    printf 'fuzz: crash input: fuzz/%s\n' "${crashed[@]}" >&2
    fail "${#crashed[@]} crash(es); reproduce with fuzz/target/release/TARGET < INPUT"
fi
echo "fuzz: no crashes"
