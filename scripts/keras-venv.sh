#!/usr/bin/env bash
# Makes (once) the Python virtual environment with Keras 2 (tf-keras on TensorFlow for the CPU)
# that the golden values and the Keras peer benchmark use, with the versions pinned in
# tests/golden/keras/requirements.txt, and prints its python's path. The environment lives in
# build/keras-venv, or where $CNNLAB_KERAS_VENV says; it is made again when the pins change.
# Needs the PyPI registry the first time (about 600 MB) and python3-venv.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/scripts/python-venv.sh" "${CNNLAB_KERAS_VENV:-$root/build/keras-venv}" \
  "$root/tests/golden/keras/requirements.txt"
