#!/usr/bin/env bash
# Sets up (installs missing packages) and builds cnnlab into build/: by default everything the
# tests need; with --target, only what is named (scripts/cnnlab builds just the library and the
# cnnlab command). --configure-only stops after CMake's configure step.
# Other arguments go to CMake, e.g. -DCMAKE_PREFIX_PATH=/opt/libtorch for another LibTorch.
# Usage: scripts/build.sh [--target NAME]... [--configure-only] [CMake options...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
targets=()
configure_only=0
cmake_options=()
while [ $# -gt 0 ]; do
  case "$1" in
    --target) targets+=(--target "$2"); shift 2 ;;
    --configure-only) configure_only=1; shift ;;
    *) cmake_options+=("$1"); shift ;;
  esac
done
"$root/scripts/setup.sh"
if [ ! -f "$root/build/CMakeCache.txt" ] || [ ${#cmake_options[@]} -gt 0 ]; then
  cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "${cmake_options[@]}" >/dev/null
fi
[ "$configure_only" -eq 0 ] || exit 0
cmake --build "$root/build" --parallel "$(nproc)" "${targets[@]}"
