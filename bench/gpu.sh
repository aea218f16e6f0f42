#!/usr/bin/env bash
# cnnlab on a CUDA GPU in one go: builds cnnlab against the CUDA LibTorch that python3's PyTorch
# ships, runs the GPU tests and the command line end to end on the GPU, trains briefly on the CPU
# in bf16 and fp32 (the CPU side of the same LibTorch), then the GPU benchmark
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
torch_info="$(python3 -c 'import os, torch
print(torch.utils.cmake_prefix_path); print(torch.__version__, "CUDA", torch.version.cuda)
print(os.path.join(os.path.dirname(torch.__file__), "include"))')" || {
  say "python3 has no PyTorch"; exit 1; }
torch_prefix="$(sed -n 1p <<< "$torch_info")"
torch_include="$(sed -n 3p <<< "$torch_info")"
say "PyTorch $(sed -n 2p <<< "$torch_info")"

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
  # PyTorch's include folder carries its own (newer) fmt headers, which come first on the compiler's
  # search path: use them header-only rather than against an older fmt library.
  fmt_options=()
  if [ -f "$torch_include/fmt/format-inl.h" ]; then
    fmt_options=(-DCNNLAB_FMT_HEADER_ONLY=ON)
    say "fmt: PyTorch's own headers, header-only"
  fi
  say "configuring"
  # Training across processes (c10d with Gloo) is CPU-only and not what this script measures;
  # it is left out so that its headers need not match this LibTorch. Of the tests, only the
  # device tests are built: the rest of the suite is the CPU's.
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCNNLAB_DISTRIBUTED=OFF \
    -DCNNLAB_DEVICE_TESTS_ONLY=ON -DCMAKE_PREFIX_PATH="$prefixes" \
    -DCNNLAB_WEB_MODULES="$bundle/web/node_modules" "${fmt_options[@]}" >> "$out/build.log" 2>&1 ||
    { say "configure failed"; tail -40 "$out/build.log"; exit 1; }
  say "building"
  # -k 0: everything that compiles is built, and every error is in the log.
  ninja -C "$build" -k 0 train_bench cnnlab_tests cnnlab >> "$out/build.log" 2>&1 ||
    { say "build failed:"; grep -E "error|Error" -A5 "$out/build.log" | head -80; }
fi

export CNNLAB_DATA="${CNNLAB_DATA:-$bundle/data}"
say "CPU:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)," \
  "$(grep -o -w -E 'avx512_bf16|amx_bf16|amx_tile' /proc/cpuinfo | sort -u | paste -sd' ')"

# A crashing program prints the faulting instruction and its stack (there is no debugger on a GPU
# machine; see bench/crash_backtrace.c); bench/crash_report.sh names the frames afterwards.
preload=""
if cc -O2 -shared -fPIC -o /tmp/cnnlab-crash-backtrace.so "$root/bench/crash_backtrace.c" \
  2>> "$out/build.log"; then
  preload=/tmp/cnnlab-crash-backtrace.so
fi
. "$root/bench/crash_report.sh"

# Reruns a crashed command (ARGS...) to tell where the crash is: with oneDNN (LibTorch's CPU
# kernels) reporting each primitive it runs, then held to narrower instruction sets, which
# separates a crash in oneDNN's generated code (AMX, AVX-512 bf16) from one elsewhere. LOG gets the
# output, the summary a line per run.
rerun_crashed() {  # LOG ARGS...
  local log="$1" isa status
  shift
  echo "=== again, with oneDNN's primitives listed (the last ones it finished)" >> "$log"
  ONEDNN_VERBOSE=1 DNNL_VERBOSE=1 timeout -k 5 60 "$@" > /tmp/cnnlab-rerun.log 2>&1
  status=$?
  grep -E "onednn_verbose|dnnl_verbose" /tmp/cnnlab-rerun.log | grep -v ",info," | tail -6 >> "$log"
  grep -E "onednn_verbose|dnnl_verbose" /tmp/cnnlab-rerun.log | grep ",info," | head -4 >> "$log"
  say "  again with oneDNN verbose: exit $status; the last primitive it finished:" \
    "$(grep -E "onednn_verbose|dnnl_verbose" /tmp/cnnlab-rerun.log | grep -v ",info," |
      tail -1 | sed 's/.*,exec,cpu,//' | cut -d, -f1-3)"
  for isa in AVX512_CORE_BF16 AVX2; do
    echo "=== again, with oneDNN limited to $isa" >> "$log"
    ONEDNN_MAX_CPU_ISA=$isa DNNL_MAX_CPU_ISA=$isa timeout -k 5 60 "$@" >> "$log" 2>&1
    say "  again with oneDNN limited to $isa: exit $?"
  done
}

tests_bin="$build/tests/cnnlab_tests"
if [ -x "$tests_bin" ] && time_for 60 "GPU tests"; then
  # At most a third of the time left: the benchmark needs the rest. Each test runs in a process
  # of its own, so that a crash ends one test and not the others.
  tests_end=$(( $(date +%s) + $(left) / 3 ))
  filter='CudaTest.*:DeviceTest.*:MultiTensorStepTest.*:DeferredMetricsTest.*'
  names=$("$tests_bin" --gtest_filter="$filter" --gtest_list_tests |
    awk '/^[^ ]/ {suite = $1} /^  / {print suite $1}')
  say "GPU tests: $(wc -w <<< "$names"), each in a process of its own" \
    "(at most $(( tests_end - $(date +%s) ))s in all)"
  rm -rf /tmp/cnnlab-test-results && mkdir -p /tmp/cnnlab-test-results
  : > "$out/tests.log"
  passed=0 failed=0 index=0
  for name in $names; do
    index=$(( index + 1 ))
    limit=$(( tests_end - $(date +%s) ))
    if [ "$limit" -lt 5 ]; then
      say "skipped for time: $name and the tests after it"
      break
    fi
    echo "=== $name" >> "$out/tests.log"
    LD_PRELOAD="$preload" timeout -k 5 "$limit" "$tests_bin" --gtest_filter="$name" \
      --gtest_output="json:/tmp/cnnlab-test-results/$index.json" > /tmp/cnnlab-test.log 2>&1
    status=$?
    crash_name_frames /tmp/cnnlab-test.log
    cat /tmp/cnnlab-test.log >> "$out/tests.log"
    if [ "$status" = 0 ]; then
      passed=$(( passed + 1 ))
      continue
    fi
    failed=$(( failed + 1 ))
    say "$name: exit $status$([ "$status" = 124 ] && echo " (stopped at the time limit)")"
    crash_summary /tmp/cnnlab-test.log | tee -a "$summary"
    if [ "$status" -gt 128 ] && [ "$status" != 137 ]; then
      rerun_crashed "$out/tests.log" "$tests_bin" --gtest_filter="$name"
    fi
  done
  python3 - /tmp/cnnlab-test-results "$out/cuda-tests.json" <<'PY'
import glob, json, os, sys
suites = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    with open(path) as f:
        for suite in json.load(f).get("testsuites", []):
            suites.setdefault(suite["name"], []).extend(suite.get("testsuite", []))
with open(sys.argv[2], "w") as f:
    json.dump({"testsuites": [{"name": k, "testsuite": v} for k, v in suites.items()]}, f, indent=1)
PY
  say "tests: $passed passed or skipped, $failed failed or crashed"
  grep -E "SKIPPED \] .*\(|Failure|error:" "$out/tests.log" | head -30 | tee -a "$summary"
fi

if [ -x "$build/cnnlab" ] && time_for 60 "command line"; then
  # The command line as a user runs it: train (with its report), evaluate, predict, report.
  limit=$(( $(left) / 5 ))
  say "cnnlab train, evaluate, predict and report on $device (at most ${limit}s)"
  LD_PRELOAD="$preload" timeout -k 5 "$limit" bash "$root/bench/gpu_cli.sh" "$build/cnnlab" \
    "$device" /tmp/cnnlab-gpu-run > "$out/cli.log" 2>&1
  status=$?
  crash_name_frames "$out/cli.log"
  say "command line exit $status$([ "$status" = 124 ] && echo " (stopped at the time limit)")"
  crash_summary "$out/cli.log" | tee -a "$summary"
  grep -E "^Training|accuracy|error|warning" -A3 "$out/cli.log" | head -24 | tee -a "$summary"
fi

if [ -x "$build/cnnlab" ] && time_for 60 "training on the CPU"; then
  # The CPU side of this LibTorch, as a user meets it: a short run of the study's MNIST model on
  # the CPU in bf16 (oneDNN's kernels, with AMX where the CPU has it), then in fp32. (The rest of
  # the suite checks the CPU with Debian's LibTorch, not with this one.)
  for precision in bf16 fp32; do
    # Each run (and each rerun after a crash) starts from an empty run directory.
    command=(bash -c 'rm -rf "$1" && exec "${@:2}"' - "/tmp/cnnlab-cpu-$precision"
      "$build/cnnlab" train -c "$root/configs/mnist.toml" --set train.epochs=1
      --set data.train_limit=2000 --set data.test_limit=500 --device cpu --precision "$precision"
      --no-report --out "/tmp/cnnlab-cpu-$precision")
    LD_PRELOAD="$preload" timeout -k 5 60 "${command[@]}" > /tmp/cnnlab-cpu.log 2>&1
    status=$?
    crash_name_frames /tmp/cnnlab-cpu.log
    { echo "=== ${command[*]:5}"; cat /tmp/cnnlab-cpu.log; } >> "$out/cli.log"
    say "training on the CPU in $precision: exit $status" \
      "$(grep -o -i "test accuracy:\? [0-9.]*" /tmp/cnnlab-cpu.log | tail -1)"
    crash_summary /tmp/cnnlab-cpu.log | tee -a "$summary"
    if [ "$status" -gt 128 ] && [ "$status" != 137 ]; then
      rerun_crashed "$out/cli.log" "${command[@]}"
    fi
  done
  # The same model trained by PyTorch from Python on the CPU in bf16: whether this PyTorch's own
  # CPU kernels run here, as a reference should cnnlab's CPU run above have failed.
  if [ -x "$build/bench/train_bench" ] &&
    "$build/bench/train_bench" --config "$root/configs/mnist.toml" --describe \
      > /tmp/cnnlab-mnist-model.json 2>> "$out/cli.log"; then
    echo "=== PyTorch from Python on the CPU in bf16" >> "$out/cli.log"
    LD_PRELOAD="$preload" timeout -k 5 60 python3 "$root/bench/torch_peer.py" \
      --model /tmp/cnnlab-mnist-model.json --batch 64 --precision bf16 --seconds 2 \
      > /tmp/cnnlab-cpu.log 2>&1
    status=$?
    crash_name_frames /tmp/cnnlab-cpu.log
    cat /tmp/cnnlab-cpu.log >> "$out/cli.log"
    say "PyTorch from Python, the same model on the CPU in bf16: exit $status" \
      "$(grep -o '"images_per_s": [0-9]*' /tmp/cnnlab-cpu.log)"
    crash_summary /tmp/cnnlab-cpu.log | tee -a "$summary"
  fi
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
