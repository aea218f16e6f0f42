#!/usr/bin/env bash
# The command line as a user runs it, on one device: trains the study's MNIST model for one epoch
# (with its report), then evaluates it, classifies an image file and writes the report again.
# bench/gpu.sh runs it on the GPU.
#   bench/gpu_cli.sh CNNLAB DEVICE RUN_DIR     (the datasets: $CNNLAB_DATA)
set -euxo pipefail
cnnlab="$1" device="$2" run="$3"
root="$(cd "$(dirname "$0")/.." && pwd)"
rm -rf "$run"
"$cnnlab" train -c "$root/configs/mnist.toml" --set train.epochs=1 --device "$device" --out "$run"
"$cnnlab" evaluate "$run" --device "$device"
# A 28x28 grey PNG with a bright bar, written with the standard library alone.
python3 - "$run/bar.png" <<'PY'
import struct, sys, zlib
rows = b"".join(b"\0" + bytes(200 if 10 <= x < 14 else 0 for x in range(28)) for _ in range(28))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
with open(sys.argv[1], "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PY
"$cnnlab" predict "$run" "$run/bar.png" --device "$device"
"$cnnlab" report "$run" --device "$device" --out "$run/again.html"
ls -l "$run/report.html" "$run/again.html"
