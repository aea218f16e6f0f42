/* Loaded into a program with LD_PRELOAD by bench/gpu.sh on a GPU machine without a debugger: on a
 * crash it prints to standard error what a debugger would show first, then ends the program with
 * the signal's usual status:
 *   - the signal, the address that was accessed and the instruction that faulted;
 *   - the stack as the unwinder sees it;
 *   - where the unwinder stops early (a jump to a null or stray address, or code generated at run
 *     time, which has no unwind information): the return address on top of the stack, and the
 *     words further up the stack that point into a loaded file's code (a stack scan: the likely
 *     callers, though an old value can show up too).
 * Addresses in loaded files are written as FILE(+0xOFFSET), which bench/crash_report.sh turns into
 * function names with addr2line. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

enum { kMaxRanges = 16384, kScanWords = 4096, kScanShown = 40 };

struct range {
  uintptr_t begin, end;
  int executable;
};
static struct range ranges[kMaxRanges];
static int range_count;

static void say(const char* text) { write(STDERR_FILENO, text, strlen(text)); }

/* The process's mappings, from /proc/self/maps, read with plain system calls. */
static void read_ranges(void) {
  static char text[1 << 22]; /* a process with CUDA's libraries has thousands of mappings */
  range_count = 0;
  const int fd = open("/proc/self/maps", O_RDONLY);
  if (fd < 0) return;
  size_t used = 0;
  ssize_t n;
  while (used < sizeof text - 1 && (n = read(fd, text + used, sizeof text - 1 - used)) > 0)
    used += (size_t)n;
  close(fd);
  text[used] = 0;
  for (char* line = text; *line && range_count < kMaxRanges;) {
    char* next = strchr(line, '\n');
    if (next) *next = 0;
    unsigned long begin, end;
    char permissions[5];
    if (sscanf(line, "%lx-%lx %4s", &begin, &end, permissions) == 3) {
      ranges[range_count++] = (struct range){begin, end, permissions[2] == 'x'};
    }
    if (!next) break;
    line = next + 1;
  }
}

static const struct range* range_of(uintptr_t address) {
  for (int i = 0; i < range_count; ++i) {
    if (ranges[i].begin <= address && address < ranges[i].end) return &ranges[i];
  }
  return 0;
}

/* Writes ADDRESS as FILE(+0xOFFSET) [SYMBOL] when a loaded file holds it, else what it is. */
static void describe(const char* label, uintptr_t address) {
  char line[1024];
  Dl_info info;
  const struct range* r = range_of(address);
  if (address != 0 && dladdr((void*)address, &info) != 0 && info.dli_fname != 0) {
    snprintf(line, sizeof line, "crash_backtrace: %s %s(+0x%lx) [%s]\n", label, info.dli_fname,
             (unsigned long)(address - (uintptr_t)info.dli_fbase),
             info.dli_sname ? info.dli_sname : "no exported symbol");
  } else {
    snprintf(line, sizeof line, "crash_backtrace: %s 0x%lx, %s\n", label, (unsigned long)address,
             address < 4096  ? "a null pointer (a call through an unset function pointer?)"
             : r == 0        ? "not mapped (a stray jump?)"
             : r->executable ? "executable memory of no file (code generated at run time)"
                             : "memory that is not executable");
  }
  say(line);
}

/* The words from the stack pointer up that point into a loaded file's executable code. */
static void scan_stack(uintptr_t sp) {
  const struct range* stack = range_of(sp);
  if (stack == 0) {
    say("crash_backtrace: the stack pointer is not in mapped memory\n");
    return;
  }
  say("crash_backtrace: words on the stack that point into code (the likely callers):\n");
  const uintptr_t* word = (const uintptr_t*)sp;
  const uintptr_t* end = (const uintptr_t*)stack->end;
  int shown = 0;
  for (int i = 0; i < kScanWords && word + i < end && shown < kScanShown; ++i) {
    const uintptr_t value = word[i];
    const struct range* r = range_of(value);
    Dl_info info;
    if (r == 0 || !r->executable || dladdr((void*)value, &info) == 0 || info.dli_fname == 0)
      continue;
    char label[64];
    snprintf(label, sizeof label, "  sp+%d:", i * (int)sizeof(uintptr_t));
    describe(label, value);
    ++shown;
  }
}

static void on_crash(int signal_number, siginfo_t* signal_info, void* context) {
  char line[256];
  snprintf(line, sizeof line, "crash_backtrace: signal %d (code %d), address accessed 0x%lx\n",
           signal_number, signal_info->si_code, (unsigned long)signal_info->si_addr);
  say(line);
  read_ranges();
  uintptr_t pc = 0, sp = 0;
#if defined(__x86_64__)
  const ucontext_t* uc = (const ucontext_t*)context;
  pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
  sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
  const ucontext_t* uc = (const ucontext_t*)context;
  pc = (uintptr_t)uc->uc_mcontext.pc;
  sp = (uintptr_t)uc->uc_mcontext.sp;
#else
  (void)context;
#endif
  describe("faulting instruction:", pc);
  void* frames[100];
  const int n = backtrace(frames, 100);
  say("crash_backtrace: stack at the crash:\n");
  backtrace_symbols_fd(frames, n, STDERR_FILENO);
  Dl_info info;
  if (sp != 0 && (pc < 4096 || dladdr((void*)pc, &info) == 0)) {
    /* A call to a bad address leaves the caller's return address on top of the stack. */
    const struct range* code = range_of(pc);
    const struct range* stack = range_of(sp);
    if ((code == 0 || !code->executable) && stack != 0 && sp + sizeof(uintptr_t) <= stack->end)
      describe("return address on top of the stack:", *(const uintptr_t*)sp);
    scan_stack(sp);
  }
  _exit(128 + signal_number);
}

__attribute__((constructor)) static void install(void) {
  static char alternate[1 << 16]; /* the handler still runs when the stack has overflowed */
  stack_t stack = {.ss_sp = alternate, .ss_size = sizeof alternate, .ss_flags = 0};
  sigaltstack(&stack, 0);
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = on_crash;
  action.sa_flags = SA_ONSTACK | SA_SIGINFO;
  sigaction(SIGSEGV, &action, 0);
  sigaction(SIGBUS, &action, 0);
  sigaction(SIGILL, &action, 0);
  sigaction(SIGFPE, &action, 0);
}
