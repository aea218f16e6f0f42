# Sourced by scripts/sanitize.sh and scripts/fuzz.sh: configures build-sanitize/ (clang, -O1, ASan
# + UBSan, the libFuzzer targets) once, and sets the sanitizers' options. Needs $root.
build="$root/build-sanitize"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release \
    -DCNNLAB_SANITIZE=ON -DCNNLAB_FUZZ=ON -DCNNLAB_BUILD_TESTS=ON >/dev/null
fi
# exitcode: a sanitizer report must not pass for the exit status 1 of a clean cnnlab error.
export ASAN_OPTIONS="exitcode=86:detect_leaks=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$root/scripts/sanitize-leaks.supp:print_suppressions=0"
