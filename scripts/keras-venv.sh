#!/usr/bin/env bash
# Makes (once) the Python virtual environment with Keras 2 (tf-keras on TensorFlow for the CPU)
# that the golden values and the Keras peer benchmark use, with the versions pinned in
# tests/golden/keras/requirements.txt, and prints its python's path. The environment lives in
# build/keras-venv, or where $CNNLAB_KERAS_VENV says; it is made again when the pins change.
# Needs the PyPI registry the first time (about 600 MB) and python3-venv.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${CNNLAB_KERAS_VENV:-$root/build/keras-venv}"
requirements="$root/tests/golden/keras/requirements.txt"

if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$venv/cnnlab-requirements.txt"; then
  if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
    echo "cnnlab: python3's venv module is missing: apt-get install python3-venv" >&2
    exit 1
  fi
  echo "cnnlab: making the Keras environment in $venv (pinned: $requirements)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  cp "$requirements" "$venv/cnnlab-requirements.txt"
fi
echo "$venv/bin/python"
