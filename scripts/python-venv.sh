#!/usr/bin/env bash
# Makes (once) a Python virtual environment in DIR with the packages pinned in REQUIREMENTS, and
# prints its python's path. The environment is made again when the pins change. Needs python3-venv
# and, the first time, the PyPI registry.
# Usage: scripts/python-venv.sh DIR REQUIREMENTS
set -euo pipefail
venv="$1"
requirements="$2"

if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$venv/cnnlab-requirements.txt"; then
  if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
    echo "cnnlab: python3's venv module is missing: apt-get install python3-venv" >&2
    exit 1
  fi
  echo "cnnlab: making the Python environment in $venv (pinned: $requirements)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  cp "$requirements" "$venv/cnnlab-requirements.txt"
fi
echo "$venv/bin/python"
