#!/usr/bin/env bash
# Writes golden.json beside this script: the values Keras 2 computes for the cases of
# make_golden.py, which tests/golden/keras_golden_test.cpp pins cnnlab to. Run it after changing
# make_golden.py or requirements.txt, and commit golden.json; the tests themselves need no
# TensorFlow.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="$("$here/../../../scripts/keras-venv.sh")"
"$python" "$here/make_golden.py" "$here/golden.json.tmp"
mv "$here/golden.json.tmp" "$here/golden.json"
echo "Written: $here/golden.json"
