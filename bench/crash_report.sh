# Reading the crash reports of bench/crash_backtrace.c; sourced by bench/gpu.sh (and its test).

# crash_name_frames LOG: appends to LOG the function (and, with debugging information, the source
# line) of every FILE(+0xOFFSET) address in its crash reports. In a file without debugging
# information (no source line found) the name is only that of the nearest exported function
# before the address, which may be a different, internal one: such names are marked "near".
crash_name_frames() {
  local log="$1" file offset name
  grep -q "crash_backtrace:" "$log" || return 0
  grep -o '[^ ()]*(+0x[0-9a-f]*)' "$log" | sed 's/(+\(0x[0-9a-f]*\))$/ \1/' | awk '!seen[$0]++' |
    head -80 | while read -r file offset; do
      [ -f "$file" ] || continue
      name="$(addr2line -f -C -e "$file" "$offset" 2>&1 | paste -sd' ')"
      case "$name" in *"??:?"*) name="near $name" ;; esac
      echo "$file(+$offset): $name"
    done > "$log.names"
  { echo "frames named:"; cat "$log.names"; } >> "$log"
  rm -f "$log.names"
}

# crash_summary LOG: the lines of LOG's crash report that say where it was, for a summary: the
# signal, the faulting instruction, the return address on top of the stack, and the first named
# frames past the crash handler.
crash_summary() {
  local log="$1"
  grep -E "crash_backtrace: (signal|faulting|return address)" "$log" | sed 's/^crash_backtrace:/ /'
  sed -n '/^frames named:/,$p' "$log" | sed 1d | grep -v -E "crash.backtrace|__restore_rt" |
    head -6 | cut -c1-200 | sed 's/^/    /'
}
