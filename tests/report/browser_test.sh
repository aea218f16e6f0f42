#!/usr/bin/env bash
# End to end: trains two small MNIST runs (plain and with L2 regularisation), writes their
# comparison report into the plain run's directory, and opens it in headless Chromium
# (report_browser_test.mjs). The screenshot stays beside the report, as report-screenshot.png.
# Where $CNNLAB_DATA also holds CIFAR-10, the quick study (cnnlab study --quick) is opened too;
# its screenshot is study/cnn-study-quick/study-screenshot.png.
#
# usage: browser_test.sh CNNLAB_BINARY OUTPUT_DIR SOURCE_DIR
# Exits 77 (skipped) when $CNNLAB_DATA holds no mnist/.
set -euo pipefail
cnnlab="$1" out="$2" source_dir="$3"
if [ ! -d "${CNNLAB_DATA:-}/mnist" ]; then
  echo "skipped: \$CNNLAB_DATA does not hold mnist/"
  exit 77
fi
for tool in node "${CHROMIUM:-/usr/bin/chromium}"; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found; run scripts/setup.sh" >&2; exit 1; }
done
rm -rf "$out"
mkdir -p "$out"
slice=(--set data.train_limit=6000 --set data.test_limit=1000 --set train.epochs=2 --no-report)
"$cnnlab" train -c "$source_dir/configs/mnist.toml" "${slice[@]}" -o "$out/plain"
"$cnnlab" train -c "$source_dir/configs/mnist.toml" "${slice[@]}" --set name=mnist-l2 \
  --set train.l2=0.001 -o "$out/l2"
"$cnnlab" report "$out/plain" "$out/l2" --images 0,7 --out "$out/plain/report.html"
node "$source_dir/tests/report/report_browser_test.mjs" "$out/plain/report.html" \
  "$out/plain/report-screenshot.png"
if [ -d "${CNNLAB_DATA}/cifar-10-batches-bin" ]; then
  "$cnnlab" study --quick --out "$out/study" -j 1
  node "$source_dir/tests/report/report_browser_test.mjs" --pictures=gallery,featureMaps,augmented \
    "$out/study/cnn-study-quick/study.html" "$out/study/cnn-study-quick/study-screenshot.png"
fi
