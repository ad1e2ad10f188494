#!/bin/sh
# Build the libFuzzer harnesses (clang, ASan + UBSan) in build-fuzz/ and run
# each for SECONDS (default 60) from seeds made fresh from ../shared/corpus.
# Prints the executions per harness; exits 1 on any finding (crash, sanitizer
# report, leak, timeout, memory limit), leaving the input in
# build-fuzz/fuzz-artifacts/<harness>/: once fixed, keep it in
# tests/fuzz/regressions/<harness>/ so ctest replays it from then on.
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-60}
dir=build-fuzz
CC=clang cmake -S . -B "$dir" -DEDIX_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" --target fuzz_doc fuzz_proto -j"$(nproc)" >/dev/null
rm -rf "$dir/fuzz-corpus" "$dir/fuzz-artifacts"
python3 tests/fuzz/seeds.py "$dir/fuzz-corpus"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
for h in fuzz_doc fuzz_proto; do
    [ -x "$dir/tests/fuzz/$h" ] || { echo "fuzz: $dir/tests/fuzz/$h was not built" >&2; exit 1; }
done
for h in fuzz_doc fuzz_proto; do
    case $h in
    fuzz_doc) max_len=65536 ;;
    *) max_len=16384 ;;
    esac
    mkdir -p "$dir/fuzz-artifacts/$h"
    log="$dir/fuzz-$h.log"
    # new inputs go to the first directory only: the regressions stay as they are
    if "$dir/tests/fuzz/$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
        -print_final_stats=1 -artifact_prefix="$dir/fuzz-artifacts/$h/" \
        "$dir/fuzz-corpus/$h" "tests/fuzz/regressions/$h" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "fuzz: $h: ${runs:-?} executions in ${secs} s, no finding"
    else
        tail -n 80 "$log"
        echo "fuzz: $h FOUND A PROBLEM; input: $(ls "$dir/fuzz-artifacts/$h/" | head -1)" \
            "in $dir/fuzz-artifacts/$h/ (full log: $log)"
        status=1
    fi
done
exit $status
