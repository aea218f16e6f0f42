#!/usr/bin/env bash
# Fuzzes every parser of outside input with libFuzzer (AddressSanitizer and UBSan on), each for a
# set time, targets side by side on all cores:
#   scripts/fuzz.sh [--seconds N | --runs R [--seed S]] [--jobs J] [--record] [target ...]
# Targets: idx cifar10 image config checkpoint (default: all); N: seconds per target (default 600);
# J: targets at a time (default: one per core).
# --runs R --seed S (default seed 1) makes a run repeatable, as CI's sanitizer stage needs: each
# target executes R inputs with libFuzzer's random seed S, from a fresh corpus, so the same inputs
# are tried every time.
# Builds into build-sanitize/ (clang). Corpora grow in build-sanitize/fuzz/corpus/<target>/, from a
# seed corpus the tests' writers make and from fuzz/regressions/<target>/; a crashing input lands in
# build-sanitize/fuzz/crashes/<target>/ and the script fails: copy it to fuzz/regressions/<target>/
# so that the test suite replays it.
# Prints executions and corpus size per target; --record also writes them to fuzz/results.json.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds=600
runs=0
seed=1
record=0
jobs="$(nproc)"
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --record) record=1; shift ;;
    idx|cifar10|image|config|checkpoint) targets+=("$1"); shift ;;
    *) echo "fuzz.sh: unknown argument '$1': expected --seconds N, --runs R, --seed S, --jobs J, --record or a target" \
            "(idx cifar10 image config checkpoint)" >&2; exit 2 ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(idx cifar10 image config checkpoint)

"$root/scripts/setup.sh"
. "$root/scripts/sanitize-env.sh"
cmake --build "$build" --parallel "$(nproc)" --target fuzz_make_seeds \
  $(printf 'fuzz_%s ' "${targets[@]}")

out="$build/fuzz"
rm -rf "$out/seeds" "$out/logs"
mkdir -p "$out/seeds" "$out/logs"
if [ "$runs" -gt 0 ]; then
  # A repeatable run starts from the seeds alone, whatever earlier runs found.
  limit=(-runs="$runs" -seed="$seed")
  rm -rf "$out/corpus"
else
  limit=(-max_total_time="$seconds")
fi
"$build/fuzz/fuzz_make_seeds" "$out/seeds" "$root/configs"

run_target() {
  local target="$1"
  mkdir -p "$out/corpus/$target" "$out/crashes/$target"
  # -rss_limit_mb: a header that makes a reader allocate gigabytes is a finding, not a pass.
  "$build/fuzz/fuzz_$target" "${limit[@]}" -timeout=30 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$out/crashes/$target/" \
    "$out/corpus/$target" "$out/seeds/$target" "$root/fuzz/regressions/$target" \
    >"$out/logs/$target.log" 2>&1
}

if [ "$runs" -gt 0 ]; then
  echo "cnnlab fuzz: ${targets[*]}, ${runs} runs each with seed ${seed}, ${jobs} at a time"
else
  echo "cnnlab fuzz: ${targets[*]}, ${seconds} s each, ${jobs} at a time"
fi
pids=()
status=0
started=$SECONDS
for target in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_target "$target" &
  pids+=($!)
done
for i in "${!targets[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "fuzz_${targets[$i]}: FAILED, see $out/logs/${targets[$i]}.log" >&2
    status=1
  fi
done

/usr/bin/python3 - "$out" "$((SECONDS - started))" "$record" "$root/fuzz/results.json" "${targets[@]}" <<'PY'
import json, os, re, sys
out, seconds, record, results_path, targets = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4], sys.argv[5:]
rows = {}
for t in targets:
    log = open(os.path.join(out, "logs", t + ".log"), errors="replace").read()
    stat = dict(re.findall(r"^stat::(\w+):\s+(\d+)", log, re.M))
    corpus = os.listdir(os.path.join(out, "corpus", t))
    crashes = os.listdir(os.path.join(out, "crashes", t))
    cov = re.findall(r"cov: (\d+) ft: (\d+)", log)
    rows[t] = {"seconds": seconds, "executions": int(stat.get("number_of_executed_units", 0)),
               "executions_per_second": int(stat.get("average_exec_per_sec", 0)),
               "corpus_inputs": len(corpus), "new_inputs": int(stat.get("new_units_added", 0)),
               "coverage_edges": int(cov[-1][0]) if cov else 0, "crashes": len(crashes)}
print(f"{'target':<12}{'seconds':>8}{'executions':>12}{'exec/s':>8}{'corpus':>8}{'edges':>8}{'crashes':>9}")
for t, r in rows.items():
    print(f"{t:<12}{r['seconds']:>8}{r['executions']:>12}{r['executions_per_second']:>8}"
          f"{r['corpus_inputs']:>8}{r['coverage_edges']:>8}{r['crashes']:>9}")
if record:
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}
    results.update(rows)
    json.dump(results, open(results_path, "w"), indent=2, sort_keys=True)
    open(results_path, "a").write("\n")
    print("recorded in fuzz/results.json")
PY
exit $status
