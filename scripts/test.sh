#!/usr/bin/env bash
# Sets up, builds and runs every test. Tests that train on real data read the datasets from
# $CNNLAB_DATA (default: ./data) and are skipped, saying so, where a dataset is absent.
# Arguments go to ctest. Every test has one label; to run one label:
#   scripts/test.sh -L unit          in-process tests (under 2 minutes after a build)
#   scripts/test.sh -L e2e           the cnnlab command as a user runs it, training on real slices
#   scripts/test.sh -L distributed   training across processes
#   scripts/test.sh -L browser       a generated report opened in headless Chromium
#   scripts/test.sh -L peer          PyTorch for Python beside cnnlab
# or one test: scripts/test.sh -R CliTest.ExportWritesAPyTorchModuleAndItsWeights
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/build.sh"
export CNNLAB_DATA="${CNNLAB_DATA:-$root/data}"
cd "$root/build"
ctest --output-on-failure --parallel "$(nproc)" "$@"
