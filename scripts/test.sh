#!/usr/bin/env bash
# Sets up, builds and runs every test. Tests that train on real data read the datasets from
# $CNNLAB_DATA (default: ./data) and are skipped, saying so, where a dataset is absent.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/build.sh"
export CNNLAB_DATA="${CNNLAB_DATA:-$root/data}"
cd "$root/build"
ctest --output-on-failure --parallel "$(nproc)" "$@"
