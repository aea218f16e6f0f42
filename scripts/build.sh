#!/usr/bin/env bash
# Sets up (installs missing packages) and builds cnnlab and its tests into build/.
# Extra arguments go to CMake, e.g. -DCMAKE_PREFIX_PATH=/opt/libtorch for another LibTorch.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
if [ ! -f "$root/build/CMakeCache.txt" ] || [ $# -gt 0 ]; then
  cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
fi
cmake --build "$root/build" --parallel "$(nproc)"
