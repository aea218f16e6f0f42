#!/usr/bin/env bash
# Time to 94% on CIFAR-10, cnnlab against the same recipe in PyTorch for Python (Debian's
# python3-torch and PyPI's current release): builds cnnlab if needed, makes the PyPI PyTorch
# environment (scripts/torch-venv.sh), then runs bench/speedrun.py (options: --rounds N, --seed S,
# --sides cnnlab,debian,pypi, --epochs E, --train-limit N, --out FILE). A round takes about
# 1.5 hours on a 2-core machine; results are appended to bench/results/speedrun.json.
# Not part of the test suite: it wants an otherwise idle machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/build.sh" --target cnnlab >&2
python="$("$root/scripts/torch-venv.sh")"
export CNNLAB_DATA="${CNNLAB_DATA:-$root/data}"
exec /usr/bin/python3 "$root/bench/speedrun.py" --pypi-python "$python" "$@"
