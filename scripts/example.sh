#!/usr/bin/env bash
# Proves that C++ programs can use the library without the command: installs the build of
# build/ (scripts/build.sh makes it) into build/install with cmake --install, builds examples/
# against it with find_package(cnnlab) into build/examples, and runs examples/train on a slice of
# MNIST from $CNNLAB_DATA (default ./data), which must print its test accuracy.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${CNNLAB_DATA:-$root/data}"
cmake --install "$root/build" --prefix "$root/build/install" > /dev/null
cmake -S "$root/examples" -B "$root/build/examples" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$root/build/install" > /dev/null
cmake --build "$root/build/examples"
run="$root/build/examples/run"
rm -rf "$run"
output="$("$root/build/examples/train" "$root/configs/mnist.toml" "$data" "$run" \
  data.train_limit=2000 data.test_limit=500 train.epochs=1)"
echo "$output"
grep -q '^test accuracy 0\.[0-9]*; the run is in ' <<< "$output"
test -f "$run/metrics.json"
