#!/usr/bin/env bash
# Builds cnnlab and its tests with AddressSanitizer and UndefinedBehaviorSanitizer (clang, in
# build-sanitize/) and runs the whole test suite there. Any memory error, leak or undefined
# behaviour fails the test that met it. Extra arguments go to ctest, e.g. -R FuzzRegression.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
. "$root/scripts/sanitize-env.sh"
cmake --build "$build" --parallel "$(nproc)"
export CNNLAB_DATA="${CNNLAB_DATA:-$root/data}"
cd "$build"
ctest --output-on-failure --parallel "$(nproc)" "$@"
