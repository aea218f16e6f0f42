#!/usr/bin/env bash
# Installs the Debian packages cnnlab builds and runs with, and the report's charting libraries
# from the npm registry (versions pinned by web/package-lock.json). Safe to run again: it installs
# only what is missing. Needs root (or sudo) when a Debian package is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

packages=(
  cmake g++ ninja-build pkg-config
  libtorch-dev          # LibTorch (PyTorch's C++ library)
  libopenblas0-openmp   # fast BLAS for LibTorch's dense layers (the reference BLAS is ~35x slower)
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libfmt-dev libstb-dev zlib1g-dev
  libhdf5-dev           # HDF5, for Keras' weights format (export --format keras)
  libgloo-dev           # Gloo's headers, for LibTorch's distributed engine (train --nproc)
  libgtest-dev
  chromium              # headless browser for the test that opens a generated report
  python3-torch         # PyTorch for Python: the peer bench/run measures cnnlab against
  clang libclang-rt-14-dev  # libFuzzer and the sanitizer build (scripts/fuzz.sh, scripts/sanitize.sh)
)
# Node.js and npm install the charting libraries; a machine that has them already keeps its own.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

# The charting libraries the report inlines, and puppeteer-core for the browser test; reinstalled
# only when the lockfile changed since the last install.
install_web_modules() {
  local web="$root/web"
  if [ ! -f "$web/node_modules/.package-lock.json" ] ||
     [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
    echo "cnnlab setup: installing the report's charting libraries (npm ci in web/)"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  install_web_modules
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "cnnlab setup: apt-get not found. cnnlab needs these Debian 12 packages (or their equivalents):" >&2
  echo "  ${missing[*]}" >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "cnnlab setup: these packages are missing and installing them needs root:" >&2
  echo "  apt-get install ${missing[*]}" >&2
  exit 1
fi

echo "cnnlab setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q "${missing[@]}"
install_web_modules
