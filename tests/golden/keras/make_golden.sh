#!/usr/bin/env bash
# Writes golden.json and tiny.h5 beside this script: the values Keras 2 computes for the cases
# of make_golden.py, and the weights file Keras writes, which tests/golden/keras_golden_test.cpp
# pins cnnlab to. Run it after changing make_golden.py or requirements.txt, and commit both files;
# the tests themselves need no TensorFlow.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="$("$here/../../../scripts/keras-venv.sh")"
"$python" "$here/make_golden.py" "$here/golden.json.tmp" "$here/tiny.h5.tmp"
mv "$here/golden.json.tmp" "$here/golden.json"
mv "$here/tiny.h5.tmp" "$here/tiny.h5"
echo "Written: $here/golden.json and $here/tiny.h5"
