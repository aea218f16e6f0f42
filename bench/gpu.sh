#!/usr/bin/env bash
# cnnlab on a CUDA GPU in one go: builds cnnlab against the CUDA LibTorch that python3's PyTorch
# ships, runs the GPU tests and the command line end to end on the GPU, then the GPU benchmark
# against PyTorch from Python (images/s of the study's models at batch 64 and 512 in fp32 and
# bf16, and MNIST's time to 0.995 test accuracy).
#   bench/gpu.sh [--quick] [--skip-build] [--device D] [--budget SECONDS]
# --budget (default 560): the whole script's time. Each step gets a time limit within it, and
# benchmark runs that would not finish in time are left out (gpu.json lists them).
# (--device cpu runs the same steps on a machine without a GPU, to check the script itself.)
# Results go to OUT_DIR (default bench/results/gpu), seven files: summary.txt (what this script
# printed, the GPU, the benchmark's table), build.log, tests.log, cuda-tests.json, cli.log,
# bench.log and gpu.json (rewritten after every measurement).
# The machine needs g++, CMake, ninja and python3 with a CUDA PyTorch. Dependencies it lacks come
# from gpu-bundle/ (bench/gpu-bundle.sh packs them on a machine where scripts/setup.sh ran).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${OUT_DIR:-$root/bench/results/gpu}"
bundle="$root/gpu-bundle"
build="$root/build-gpu"
quick=0 skip_build=0 device=cuda budget=560
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --skip-build) skip_build=1 ;;
    --device) device="${2:?--device needs a value}"; shift ;;
    --budget) budget="${2:?--budget needs a number of seconds}"; shift ;;
    *) echo "gpu.sh: unknown option $1 (expected --quick, --skip-build, --device D or" \
         "--budget SECONDS)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out"
summary="$out/summary.txt"
: > "$summary"
started=$(date +%s)
deadline=$(( started + budget ))
say() { echo "[gpu.sh $(( $(date +%s) - started ))s] $*" | tee -a "$summary"; }
left() { echo $(( deadline - $(date +%s) )); }
# Whether at least $1 seconds of the budget are left; says what is skipped when not.
time_for() {
  [ "$(left)" -ge "$1" ] && return 0
  say "skipped for time: $2"
  return 1
}

say "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)"
torch_info="$(python3 -c 'import torch
print(torch.utils.cmake_prefix_path); print(torch.__version__, "CUDA", torch.version.cuda)')" || {
  say "python3 has no PyTorch"; exit 1; }
torch_prefix="$(head -1 <<< "$torch_info")"
say "PyTorch $(tail -1 <<< "$torch_info")"

if [ "$skip_build" = 0 ]; then
  : > "$out/build.log"
  prefixes="$torch_prefix"
  if [ -d "$bundle" ]; then
    if [ ! -f /tmp/cnnlab-gtest/include/gtest/gtest.h ]; then
      cmake -S "$bundle/googletest" -B /tmp/cnnlab-gtest-build -G Ninja \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/tmp/cnnlab-gtest >> "$out/build.log" 2>&1 &&
        cmake --build /tmp/cnnlab-gtest-build --target install >> "$out/build.log" 2>&1 ||
        say "GoogleTest did not build (see build.log)"
    fi
    prefixes="$prefixes;$bundle;/tmp/cnnlab-gtest"
  fi
  say "configuring"
  # Training across processes (c10d with Gloo) is CPU-only and not what this script measures;
  # it is left out so that its headers need not match this LibTorch. Of the tests, only the
  # device tests are built: the rest of the suite is the CPU's.
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCNNLAB_DISTRIBUTED=OFF \
    -DCNNLAB_DEVICE_TESTS_ONLY=ON -DCMAKE_PREFIX_PATH="$prefixes" \
    -DCNNLAB_WEB_MODULES="$bundle/web/node_modules" >> "$out/build.log" 2>&1 ||
    { say "configure failed"; tail -40 "$out/build.log"; exit 1; }
  say "building"
  # -k 0: everything that compiles is built, and every error is in the log.
  ninja -C "$build" -k 0 train_bench cnnlab_tests cnnlab >> "$out/build.log" 2>&1 ||
    { say "build failed:"; grep -E "error|Error" -A5 "$out/build.log" | head -80; }
fi

export CNNLAB_DATA="${CNNLAB_DATA:-$bundle/data}"
if [ -x "$build/tests/cnnlab_tests" ] && time_for 60 "GPU tests"; then
  # At most a third of the time left: the benchmark needs the rest.
  limit=$(( $(left) / 3 ))
  say "GPU tests (at most ${limit}s)"
  timeout -k 5 "$limit" "$build/tests/cnnlab_tests" \
    --gtest_filter='CudaTest.*:DeviceTest.*:MultiTensorStepTest.*:DeferredMetricsTest.*' \
    --gtest_output="json:$out/cuda-tests.json" > "$out/tests.log" 2>&1
  status=$?
  say "tests exit $status$([ "$status" = 124 ] && echo " (stopped at the time limit)")"
  grep -E "OK \] CudaTest|^\[  (PASSED|FAILED|SKIPPED) |Failure|error:" "$out/tests.log" |
    head -40 | tee -a "$summary"
fi

if [ -x "$build/cnnlab" ] && time_for 60 "command line"; then
  # The command line as a user runs it: train (with its report), evaluate, predict, report.
  limit=$(( $(left) / 5 ))
  say "cnnlab train, evaluate, predict and report on $device (at most ${limit}s)"
  timeout -k 5 "$limit" bash "$root/bench/gpu_cli.sh" "$build/cnnlab" "$device" \
    /tmp/cnnlab-gpu-run > "$out/cli.log" 2>&1
  status=$?
  say "command line exit $status$([ "$status" = 124 ] && echo " (stopped at the time limit)")"
  grep -E "^Training|accuracy|error|warning" "$out/cli.log" | head -12 | tee -a "$summary"
fi

if [ -x "$build/bench/train_bench" ] && time_for 30 "benchmark"; then
  say "benchmark"
  args=(--build-dir "$build" --out "$out/gpu.json" --device "$device" --deadline "$deadline")
  [ "$quick" = 1 ] && args+=(--quick)
  timeout -k 5 "$(( $(left) + 30 ))" python3 "$root/bench/gpu_compare.py" "${args[@]}" \
    2> "$out/bench.log" | tee -a "$summary"
  say "benchmark exit ${PIPESTATUS[0]}"
  tail -5 "$out/bench.log"
fi
say "done"
