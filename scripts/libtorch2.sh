#!/usr/bin/env bash
# Builds cnnlab against LibTorch 2.x and runs its unit tests there, on any Debian machine (no GPU
# needed): Debian 13's libtorch-dev (LibTorch 2.6, CPU), in a Debian 13 root made with debootstrap
# in build-libtorch2/root. The project's own build uses Debian 12's LibTorch 1.13 and bench/gpu.sh
# builds against PyTorch's LibTorch 2.x but runs only the device tests there; this proves the
# library against a 2.x LibTorch: the code that differs between the two (autocast, the checkpoint
# formats) and the newer library versions that come with it.
#
# Needs root (debootstrap, chroot and bind mounts) and Debian's package archive. The source tree,
# web/node_modules and the datasets ($CNNLAB_DATA, default ./data) are mounted read-only inside;
# the build goes to build-libtorch2/root/build.
# Usage:
#   scripts/libtorch2.sh                 build the library and the unit tests, run them (-L unit)
#   scripts/libtorch2.sh ARGS            build everything, run ctest ARGS (e.g. -R DistributedTest)
#   scripts/libtorch2.sh --prepare       only make the Debian 13 root (CI does it in the background)
#   scripts/libtorch2.sh --build-only    make the root if needed and build, run nothing
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sysroot="$root/build-libtorch2/root"
data="${CNNLAB_DATA:-$root/data}"
mode=test
case "${1:-}" in
  --prepare) mode=prepare; shift ;;
  --build-only) mode=build; shift ;;
esac

fail() {
  echo "cnnlab libtorch2: $*" >&2
  exit 1
}
[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot and mounts); run it with sudo"

# The host's own set-up installs the report's charting libraries (web/node_modules), which the
# build inside reads.
"$root/scripts/setup.sh"
if ! command -v debootstrap >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
fi

# Everything mounted inside is unmounted on the way out, whatever happens.
mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount -R "${mounts[$i]}" 2>/dev/null || umount -l "${mounts[$i]}" 2>/dev/null || true
  done
}
trap cleanup EXIT
mount_inside() {  # mount_inside TARGET MOUNT-ARGUMENTS...
  mkdir -p "$1"
  mount "${@:2}" "$1"
  mounts+=("$1")
}
bind_read_only() {  # bind_read_only SOURCE TARGET
  mount_inside "$2" --bind "$1"
  mount -o remount,bind,ro "$2"
}

packages=(
  cmake g++ ninja-build pkg-config libtorch-dev libopenblas0-openmp
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libfmt-dev libstb-dev zlib1g-dev
  libgloo-dev libgtest-dev libhdf5-dev
)
if [ ! -f "$sysroot/.cnnlab-packages" ] ||
  [ "$(cat "$sysroot/.cnnlab-packages")" != "${packages[*]}" ]; then
  if [ ! -x "$sysroot/usr/bin/apt-get" ]; then
    echo "cnnlab libtorch2: making a Debian 13 root in $sysroot"
    rm -rf "$sysroot"
    mkdir -p "$sysroot"
    debootstrap --variant=minbase trixie "$sysroot" http://deb.debian.org/debian > \
      "$root/build-libtorch2/debootstrap.log" 2>&1 ||
      fail "debootstrap failed: see build-libtorch2/debootstrap.log"
  fi
  cp /etc/resolv.conf "$sysroot/etc/resolv.conf"
  mount_inside "$sysroot/proc" -t proc proc
  echo "cnnlab libtorch2: installing LibTorch 2.x and the build's packages inside"
  chroot "$sysroot" env DEBIAN_FRONTEND=noninteractive bash -c \
    'apt-get update -q && apt-get install -y -q --no-install-recommends "$@"' - "${packages[@]}"
  echo "${packages[*]}" > "$sysroot/.cnnlab-packages"
  cleanup
  mounts=()
fi

[ "$mode" != prepare ] || exit 0
[ -d "$data" ] || fail "datasets folder '$data' not found: set CNNLAB_DATA"
data="$(cd "$data" && pwd)"

mount_inside "$sysroot/proc" -t proc proc
mount_inside "$sysroot/dev" --rbind /dev
mount --make-rslave "$sysroot/dev"
bind_read_only "$root" "$sysroot/src"
bind_read_only "$root/web/node_modules" "$sysroot/src/web/node_modules"
bind_read_only "$data" "$sysroot/data"

# The tree is read-only inside: Python writes no bytecode next to the benchmark scripts.
# Without ctest arguments only the library and its in-process tests are built, and the unit
# tests run. The browser and peer tests never run here: Chromium and PyTorch for Python are not
# installed inside, and neither test involves the library's LibTorch; they run in the main suite.
chroot "$sysroot" env CNNLAB_DATA=/data PYTHONDONTWRITEBYTECODE=1 MODE="$mode" bash -c '
  set -e
  cmake -S /src -B /build -G Ninja -Wno-dev > /build.log 2>&1 || { cat /build.log; exit 1; }
  grep "^-- cnnlab:" /build.log
  if [ $# -eq 0 ]; then targets=cnnlab_tests; set -- -L unit; else targets=all; fi
  ninja -C /build -j "$(nproc)" "$targets" > /build.log 2>&1 || { tail -n 60 /build.log; exit 1; }
  [ "$MODE" = test ] || exit 0
  cd /build
  ctest --output-on-failure --parallel "$(nproc)" -LE "browser|peer" "$@"
' - "$@"
