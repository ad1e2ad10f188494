#!/bin/sh
# Build edix and run every test (unit and integration) with ctest.
#   ./test.sh              the normal build, in build/
#   ./test.sh --sanitize   AddressSanitizer + UBSan, in build-asan/
set -eu
cd "$(dirname "$0")"
sh scripts/deps.sh
dir=build
opts="-DCMAKE_BUILD_TYPE=RelWithDebInfo"
if [ "${1:-}" = "--sanitize" ]; then
    dir=build-asan
    opts="-DCMAKE_BUILD_TYPE=Debug -DEDIX_SANITIZE=ON"
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
# shellcheck disable=SC2086
cmake -S . -B "$dir" $opts >/dev/null
cmake --build "$dir" -j"$(nproc)"
ctest --test-dir "$dir" --output-on-failure -j2
