#!/usr/bin/env bash
# Installs the Debian packages cnnlab builds and runs with. Safe to run again: it installs only
# what is missing. Needs root (or sudo) when something is missing.
set -euo pipefail

packages=(
  cmake g++ ninja-build pkg-config
  libtorch-dev          # LibTorch (PyTorch's C++ library)
  libopenblas0-openmp   # fast BLAS for LibTorch's dense layers (the reference BLAS is ~35x slower)
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libfmt-dev libstb-dev zlib1g-dev
  libgtest-dev
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

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
