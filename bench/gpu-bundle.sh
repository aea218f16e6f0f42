#!/usr/bin/env bash
# Packs what bench/gpu.sh needs on a GPU machine that has PyTorch, a compiler, CMake and ninja
# but no package registry: the headers and small libraries of cnnlab's Debian dependencies (with
# their CMake files), GoogleTest's sources, the report's charting libraries and MNIST. Run it here,
# after scripts/setup.sh; it writes gpu-bundle/ (about 20 MB, ignored by git).
#   bench/gpu-bundle.sh [DATA_DIR]     DATA_DIR: holds mnist/ (default: $CNNLAB_DATA, else ./data)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-${CNNLAB_DATA:-$root/data}}"
bundle="$root/gpu-bundle"
arch="$(gcc -dumpmachine)"
rm -rf "$bundle"
mkdir -p "$bundle/include" "$bundle/lib/$arch/cmake" "$bundle/share/cmake" "$bundle/data"

cp -r /usr/include/toml++ /usr/include/CLI /usr/include/nlohmann /usr/include/fmt \
  /usr/include/stb /usr/include/zlib.h /usr/include/zconf.h "$bundle/include/"
cp -r "/usr/lib/$arch/cmake/tomlplusplus" "/usr/lib/$arch/cmake/fmt" "$bundle/lib/$arch/cmake/"
cp -r /usr/share/cmake/CLI11 /usr/share/cmake/nlohmann_json "$bundle/share/cmake/"
cp -P "/usr/lib/$arch"/libtomlplusplus.so* "/usr/lib/$arch"/libfmt.so* \
  "/usr/lib/$arch"/libstb.so* "/usr/lib/$arch"/libz.so* "$bundle/lib/$arch/"
cp -r /usr/src/googletest "$bundle/googletest"
for module in vega vega-lite vega-embed; do
  mkdir -p "$bundle/web/node_modules/$module/build"
  cp "$root/web/node_modules/$module/build/$module.min.js" "$bundle/web/node_modules/$module/build/"
done
cp -r "$data/mnist" "$bundle/data/mnist"
du -sh "$bundle"
