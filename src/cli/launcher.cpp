#include "launcher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>

#include "cnnlab/error.h"

namespace cnnlab::cli {

namespace {

// A TCP port on the loopback interface that nothing listens on right now.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw IoError("--nproc: cannot open a socket to find a free port");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  if (!ok) throw IoError("--nproc: cannot find a free port on 127.0.0.1");
  return ntohs(address.sin_port);
}

std::string describe(int status) {
  if (WIFSIGNALED(status)) {
    return fmt::format("was killed by signal {} ({})", WTERMSIG(status),
                       strsignal(WTERMSIG(status)));
  }
  return fmt::format("exited with status {}", WEXITSTATUS(status));
}

}  // namespace

int launch_ranks(int nproc, const std::vector<std::string>& command, bool add_threads, int threads,
                 int grace_seconds) {
  const char* port_variable = std::getenv("MASTER_PORT");
  const std::string port = port_variable != nullptr && *port_variable != '\0'
                               ? port_variable
                               : std::to_string(free_port());
  std::vector<std::string> arguments = command;
  if (add_threads) {
    arguments.push_back("--threads");
    arguments.push_back(std::to_string(threads));
  }
  std::vector<char*> argv;
  for (auto& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);

  std::fflush(stdout);
  std::fflush(stderr);
  std::map<pid_t, int> ranks;  // running children
  for (int rank = 0; rank < nproc; ++rank) {
    const pid_t pid = ::fork();
    if (pid < 0) throw IoError(fmt::format("--nproc: cannot start rank {}", rank));
    if (pid == 0) {
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", port.c_str(), 1);
      if (rank > 0) {
        const int null = ::open("/dev/null", O_WRONLY);
        if (null >= 0) ::dup2(null, STDOUT_FILENO);
      }
      ::execv("/proc/self/exe", argv.data());
      std::_Exit(127);
    }
    ranks[pid] = rank;
  }
  // Ctrl-C reaches every rank from the terminal; they stop together and this process reports.
  ::signal(SIGINT, SIG_IGN);

  int result = 0;
  bool failed = false;
  auto deadline = std::chrono::steady_clock::time_point::max();
  while (!ranks.empty()) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, failed ? WNOHANG : 0);
    if (pid > 0) {
      const int rank = ranks[pid];
      ranks.erase(pid);
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      const bool interrupted = WIFEXITED(status) && WEXITSTATUS(status) == 130;
      if (interrupted && result == 0) result = 130;
      if (!ok && !interrupted && !failed) {
        failed = true;
        result = 1;
        deadline = std::chrono::steady_clock::now() + std::chrono::seconds(grace_seconds);
        fmt::print(stderr, "cnnlab: error: rank {} of {} (pid {}) {}; stopping the other ranks\n",
                   rank, nproc, pid, describe(status));
      }
      continue;
    }
    if (pid < 0) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      for (const auto& [child, rank] : ranks) {
        fmt::print(stderr,
                   "cnnlab: error: rank {} of {} (pid {}) still runs {} s after that (hung?); "
                   "killing it\n",
                   rank, nproc, child, grace_seconds);
        ::kill(child, SIGKILL);
      }
      deadline = std::chrono::steady_clock::time_point::max();
      failed = false;  // now wait for the killed ones without polling
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return result;
}

namespace {

int64_t integer_variable(const char* name, int64_t low, int64_t high, bool required,
                         int64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') {
    if (required) {
      throw ConfigError(
          fmt::format("{}: not set (a distributed run needs RANK, WORLD_SIZE, "
                      "MASTER_ADDR and MASTER_PORT)",
                      name));
    }
    return fallback;
  }
  char* end = nullptr;
  const long long value = std::strtoll(text, &end, 10);
  if (*end != '\0' || value < low || value > high) {
    throw ConfigError(
        fmt::format("{}: expected a whole number in [{}, {}], found '{}'", name, low, high, text));
  }
  return value;
}

}  // namespace

std::optional<DistributedOptions> distributed_from_environment() {
  if (std::getenv("WORLD_SIZE") == nullptr) return std::nullopt;
  DistributedOptions o;
  o.world_size = integer_variable("WORLD_SIZE", 1, 4096, true, 1);
  o.rank = integer_variable("RANK", 0, o.world_size - 1, true, 0);
  o.local_rank = integer_variable("LOCAL_RANK", 0, 4095, false, o.rank);
  o.master_port = integer_variable("MASTER_PORT", 1, 65535, true, 29500);
  const char* addr = std::getenv("MASTER_ADDR");
  if (addr == nullptr || *addr == '\0') {
    throw ConfigError("MASTER_ADDR: not set (the host name or address of rank 0)");
  }
  o.master_addr = addr;
  o.timeout = std::chrono::seconds(integer_variable("CNNLAB_DIST_TIMEOUT", 1, 86400, false, 120));
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME")) o.socket_interface = interface;
  return o;
}

}  // namespace cnnlab::cli
