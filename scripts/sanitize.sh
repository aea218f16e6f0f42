#!/usr/bin/env bash
# Builds cnnlab and its tests with AddressSanitizer and UndefinedBehaviorSanitizer (clang, -O1, in
# build-sanitize/) and runs tests there. Any memory error, leak or undefined behaviour fails the
# test that met it.
#   scripts/sanitize.sh               the unit tests, then the e2e tests of the parsers, the
#                                     checkpoints and the report writer
#   scripts/sanitize.sh unit          the unit tests only
#   scripts/sanitize.sh e2e           those e2e tests only
#   scripts/sanitize.sh --build-only  build, run nothing
#   scripts/sanitize.sh -- ARGS       ctest ARGS, e.g. -- -R FuzzRegression
# The fuzz targets replay their regressions in the unit tests; scripts/fuzz.sh fuzzes them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# The cnnlab command run as a user does, on what it parses (configs, datasets, images,
# checkpoints) and what it writes (checkpoints, history, reports), killed and resumed too.
e2e='^(CrashSafetyTest|ReportSafetyTest)\.|^CliTest\.(UnknownConfigOption|MissingDataset|CorruptDataset|KernelLargerThanInput|CheckpointOfAnotherModel|PredictRejectsNonImages|ReportErrors|SweepAndStudyErrors|InterruptSavesAndResume)'
what="${1:-default}"
case "$what" in
  default|unit|e2e|--build-only) ;;
  --) shift ;;
  *) echo "sanitize.sh: unknown argument '$1': expected unit, e2e, --build-only or -- ARGS" >&2
     exit 2 ;;
esac
"$root/scripts/setup.sh"
. "$root/scripts/sanitize-env.sh"
cmake --build "$build" --parallel "$(nproc)" --target cnnlab_tests cnnlab_cli_tests
[ "$what" != --build-only ] || exit 0
export CNNLAB_DATA="${CNNLAB_DATA:-$root/data}"
cd "$build"
case "$what" in
  default) ctest --output-on-failure --parallel "$(nproc)" -L unit
           ctest --output-on-failure --parallel "$(nproc)" -R "$e2e" ;;
  unit) ctest --output-on-failure --parallel "$(nproc)" -L unit ;;
  e2e) ctest --output-on-failure --parallel "$(nproc)" -R "$e2e" ;;
  --) ctest --output-on-failure --parallel "$(nproc)" "$@" ;;
esac
