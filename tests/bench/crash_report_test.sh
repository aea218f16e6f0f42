#!/usr/bin/env bash
# bench/gpu.sh's crash reports, on a program that crashes on purpose in three ways: a call through
# a null function pointer, a fault in code generated at run time, and a plain bad read. Each must
# be reported with the faulting instruction and the function that led to it, named from the
# program's debugging information.
#   crash_report_test.sh SOURCE_DIR WORK_DIR
set -uo pipefail
source_dir="$1" work="$2"
if [ "$(uname -m)" != x86_64 ]; then
  echo "skipped: the test program's generated code is x86-64"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work"
cc -O2 -Wall -Wextra -Werror -shared -fPIC -o "$work/crash_backtrace.so" \
  "$source_dir/bench/crash_backtrace.c" || exit 1
cat > "$work/crash.c" <<'C'
#include <string.h>
#include <sys/mman.h>
typedef void (*function)(void);
__attribute__((noinline)) void call_through_null(function f) {
  f();
  __asm__ volatile("");
}
__attribute__((noinline)) void run_generated_code(void) {
  /* xor eax, eax; mov eax, [rax]; ret: reads address 0 */
  static const unsigned char code[] = {0x31, 0xc0, 0x8b, 0x00, 0xc3};
  void* page = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memcpy(page, code, sizeof code);
  mprotect(page, 4096, PROT_READ | PROT_EXEC);
  ((function)page)();
  __asm__ volatile("");
}
__attribute__((noinline)) int read_bad_address(const int* p) { return *p + 1; }
int main(int argc, char** argv) {
  function volatile none = 0;
  if (argc < 2) return 0;
  if (argv[1][0] == 'n') call_through_null(none);
  if (argv[1][0] == 'g') run_generated_code();
  if (argv[1][0] == 'r') return read_bad_address((const int*)(long)argc);
  return 0;
}
C
cc -O1 -g -o "$work/crash" "$work/crash.c" || exit 1
. "$source_dir/bench/crash_report.sh"

failures=0
expect() {  # FILE TEXT: FILE holds TEXT
  if ! grep -q -F -- "$2" "$1"; then
    echo "FAIL: $(basename "$1") lacks: $2"
    failures=$((failures + 1))
  fi
}
refuse() {  # FILE TEXT: FILE does not hold TEXT
  if grep -q -F -- "$2" "$1"; then
    echo "FAIL: $(basename "$1") holds: $2"
    failures=$((failures + 1))
  fi
}
crash() {  # NAME MODE: runs the program with the handler; LOG in $work/NAME.log
  LD_PRELOAD="$work/crash_backtrace.so" "$work/crash" "$2" > "$work/$1.log" 2>&1
  local status=$?
  if [ "$status" != 139 ]; then
    echo "FAIL: $1 ended with status $status, expected 139 (SIGSEGV)"
    failures=$((failures + 1))
  fi
  crash_name_frames "$work/$1.log"
  crash_summary "$work/$1.log" > "$work/$1.summary"
}

crash null n
expect "$work/null.log" "faulting instruction: 0x0, a null pointer"
expect "$work/null.log" "return address on top of the stack: $work/crash(+0x"
expect "$work/null.summary" "call_through_null $work/crash.c:"
expect "$work/null.summary" "main $work/crash.c"

crash generated g
expect "$work/generated.log" "code generated at run time"
expect "$work/generated.log" "words on the stack that point into code"
refuse "$work/generated.log" "return address on top of the stack"  # not a bad call: no such thing
expect "$work/generated.summary" "run_generated_code $work/crash.c"

crash read r
expect "$work/read.log" "address accessed 0x2"
expect "$work/read.summary" "read_bad_address $work/crash.c:"
refuse "$work/read.log" "words on the stack"  # the unwinder got through: no scan needed

# A program that does not crash prints nothing more with the handler loaded.
LD_PRELOAD="$work/crash_backtrace.so" "$work/crash" > "$work/quiet.log" 2>&1 ||
  { echo "FAIL: the program without a crash failed"; failures=$((failures + 1)); }
refuse "$work/quiet.log" "crash_backtrace"
crash_name_frames "$work/quiet.log"
refuse "$work/quiet.log" "frames named"

if [ "$failures" -gt 0 ]; then
  for name in null generated read; do
    echo "--- $name.log"
    cat "$work/$name.log"
  done
  exit 1
fi
echo "crash reports: null call, generated code and bad read each named where they happened"
