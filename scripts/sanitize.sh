#!/usr/bin/env bash
# Builds cnnlab and its tests with AddressSanitizer and UndefinedBehaviorSanitizer (clang, in
# build-sanitize/) and runs the whole test suite there. Any memory error, leak or undefined
# behaviour fails the test that met it. Extra arguments go to ctest, e.g. -R FuzzRegression.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
build="$root/build-sanitize"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release \
    -DCNNLAB_SANITIZE=ON -DCNNLAB_FUZZ=ON -DCNNLAB_BUILD_TESTS=ON >/dev/null
fi
cmake --build "$build" --parallel "$(nproc)"
export CNNLAB_DATA="${CNNLAB_DATA:-$root/data}"
# exitcode: a sanitizer report must not pass for the exit status 1 of a clean cnnlab error.
export ASAN_OPTIONS="exitcode=86:detect_leaks=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$root/scripts/sanitize-leaks.supp:print_suppressions=0"
cd "$build"
ctest --output-on-failure --parallel "$(nproc)" "$@"
