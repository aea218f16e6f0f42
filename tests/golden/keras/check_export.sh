#!/usr/bin/env bash
# The Keras export's round trip on a trained run: `cnnlab export --format keras` loaded into
# Keras 2 predicts the whole test set as cnnlab does (the same class for every image, each
# probability within 1e-4).
#
#   tests/golden/keras/check_export.sh RUN_DIR DATASET_DIR [CNNLAB]
#
# DATASET_DIR is the dataset's own folder (e.g. $CNNLAB_DATA/mnist); CNNLAB defaults to
# build/cnnlab. Needs python3-torch (scripts/setup.sh) and makes the Keras environment
# (scripts/keras-venv.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../../.."
[ $# -ge 2 ] || { sed -n 2,10p "$0"; exit 2; }
run="$1" data="$2" cnnlab="${3:-$root/build/cnnlab}"
python="$("$root/scripts/keras-venv.sh")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$cnnlab" export "$run" --format pytorch --out "$work/pytorch" > /dev/null
"$cnnlab" export "$run" --format keras --out "$work/keras"
/usr/bin/python3 "$here/check_export.py" pytorch "$work/pytorch" "$data" "$work/cnnlab.npy"
"$python" "$here/check_export.py" keras "$work/keras" "$data" "$work/cnnlab.npy"
