/* Loaded into a program with LD_PRELOAD by bench/gpu.sh on a GPU machine without a debugger: on a
 * crash it prints the stack to standard error, then ends the program with the signal's usual
 * status. bench/gpu.sh names the program's own frames with addr2line. */
#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

static void print_stack(int signal_number) {
  void* frames[100];
  const int n = backtrace(frames, 100);
  static const char header[] = "crash_backtrace: stack at the crash:\n";
  write(STDERR_FILENO, header, sizeof header - 1);
  backtrace_symbols_fd(frames, n, STDERR_FILENO);
  _exit(128 + signal_number);
}

__attribute__((constructor)) static void install(void) {
  static char alternate[1 << 16]; /* the handler still runs when the stack has overflowed */
  stack_t stack = {.ss_sp = alternate, .ss_size = sizeof alternate, .ss_flags = 0};
  sigaltstack(&stack, 0);
  struct sigaction action = {0};
  action.sa_handler = print_stack;
  action.sa_flags = SA_ONSTACK;
  sigaction(SIGSEGV, &action, 0);
  sigaction(SIGBUS, &action, 0);
  sigaction(SIGILL, &action, 0);
  sigaction(SIGFPE, &action, 0);
}
