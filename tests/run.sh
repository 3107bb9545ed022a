#!/usr/bin/env bash
# Runs every test suite and prints one summary line. Each suite is an executable script
# or `cargo test`; a suite that fails, or that cannot find a tool it needs, counts as failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export LUNA_LIB="$PWD/target/release/libluna.so"

passed=0; failed=0; failures=()
run() {
    local name=$1; shift
    echo "=== $name"
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
}

run "header in sync, C99 and C++" make -s check-header
run "rust: imports run down the layers, unsafe only in ffi" python3 tests/check_layers.py
run "rust: C ABI tests" cargo test --release --quiet
# make check-memory with fewer cycles: about 5 s on 2 vCPUs.
run "C echo server under valgrind, 1000 cycles" env CHECK_MEMORY_CYCLES=1000 bash tests/soak/check_memory.sh
for suite in tests/c/*.sh tests/lua/*.sh tests/browser/*.sh tests/fuzz_smoke.sh; do
    [ -e "$suite" ] || continue
    run "$suite" bash "$suite"
done

echo
[ $failed -gt 0 ] && printf 'failed suite: %s\n' "${failures[@]}"
echo "suites: $passed passed, $failed failed"
[ $failed -eq 0 ]
