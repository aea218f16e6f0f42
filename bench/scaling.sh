#!/usr/bin/env bash
# Data-parallel scaling on this machine: the study's MNIST model for one epoch on 12,000 training
# images in 1 process (all cores) and in 2 processes (half the cores each, cnnlab train --nproc 2),
# printing the training images/s each reached (from the runs' metrics.json). Run it twice or
# more: a shared machine's speed wanders.
#   bench/scaling.sh [PRECISION]     fp32 (default) or bf16
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
precision="${1:-fp32}"
"$root/scripts/build.sh" >&2
export CNNLAB_DATA="${CNNLAB_DATA:-$root/data}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for nproc in 1 2; do
  "$root/build/cnnlab" train --config "$root/configs/mnist.toml" --set data.train_limit=13334 \
    --set train.epochs=1 --precision "$precision" --no-report --nproc "$nproc" \
    --out "$out/nproc-$nproc" > "$out/nproc-$nproc.log"
  /usr/bin/python3 - "$out/nproc-$nproc/metrics.json" "$nproc" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]} process(es): {m['train_images_per_second']:.0f} training images/s")
PY
done
