#!/usr/bin/env bash
# The study's MNIST model trained by Keras 2 and by cnnlab, alternately, on this machine: the same
# model, optimizer, batch, split, epochs and precision (float32, or bfloat16 compute on both
# sides), one after the other for each round. Prints both test accuracies, the training times and
# their ratio; the rounds go to bench/results/keras-peer-<precision>.json. Not part of the test
# suite: it takes minutes and wants an otherwise idle machine.
#
#   bench/keras.sh [--rounds N] [--epochs N] [--precision fp32|bf16]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/build.sh" --target cnnlab >&2
export CNNLAB_DATA="${CNNLAB_DATA:-$root/data}"
python="$("$root/scripts/keras-venv.sh")"
exec /usr/bin/python3 "$root/bench/keras_compare.py" --cnnlab "$root/build/cnnlab" \
  --keras-python "$python" --out-dir "$root/bench/results" "$@"
