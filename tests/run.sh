#!/usr/bin/env bash
# Runs every test suite and prints one summary line. Each suite is an executable script
# or `cargo test`; a suite that fails, or that cannot find a tool it needs, counts as failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export LUNA_LIB="$PWD/target/release/libluna.so"

passed=0; failed=0; failures=()
logs=$(mktemp -d); trap 'rm -rf "$logs"' EXIT
run() {
    local name=$1; shift
    local log="$logs/$((passed + failed)).log"
    echo "=== $name"
    # Shown as it runs and kept, so a failure's last lines are repeated after the summary
    # (where a log that keeps only its end still shows why). Not a pipe: a server a suite
    # leaves behind must not hold the run open.
    if "$@" > >(tee "$log") 2>&1; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1)); failures+=("$name")
        sleep 0.5 # tee writes its last lines after the suite ended
        cp "$log" "$logs/failed-$failed.log"
    fi
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
for i in $(seq "$failed"); do
    echo "--- the last lines of ${failures[$((i - 1))]}:"
    tail -n 40 "$logs/failed-$i.log"
done
[ $failed -gt 0 ] && printf 'failed suite: %s\n' "${failures[@]}"
echo "suites: $passed passed, $failed failed"
[ $failed -eq 0 ]
