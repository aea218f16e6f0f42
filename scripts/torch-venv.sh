#!/usr/bin/env bash
# Makes (once) the Python virtual environment with the current PyTorch release from PyPI that the
# speed-run benchmark (bench/speedrun.py) runs its peer in, with the versions pinned in
# bench/torch-requirements.txt, and prints its python's path. The environment lives in
# build/torch-venv, or where $CNNLAB_TORCH_VENV says; it is made again when the pins change.
# Needs the PyPI registry the first time (about 4 GB: PyPI's Linux wheel brings CUDA libraries)
# and python3-venv.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/scripts/python-venv.sh" "${CNNLAB_TORCH_VENV:-$root/build/torch-venv}" \
  "$root/bench/torch-requirements.txt"
