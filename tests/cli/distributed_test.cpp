// Data-parallel training across processes (cnnlab train --nproc, torchrun's environment) on
// this machine's loopback interface.
#include "cnnlab/training/distributed.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "cnnlab/config/run_config.h"
#include "cnnlab/run/checkpoint.h"
#include "cnnlab/run/history_files.h"
#include "cnnlab/training/evaluate.h"
#include "support/temp_dir.h"
#include "support/tiny_project.h"

namespace cnnlab {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using testing::TempDir;

#if defined(__SANITIZE_ADDRESS__)
#define CNNLAB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CNNLAB_ASAN 1
#endif
#endif

// Under AddressSanitizer the ranks would run Gloo's uninstrumented threads and libraries in
// processes whose every leak report fails them; the plain suite covers these tests.
#ifdef CNNLAB_ASAN
#define SKIP_WITHOUT_DISTRIBUTED() GTEST_SKIP() << "not under AddressSanitizer"
#else
#define SKIP_WITHOUT_DISTRIBUTED() \
  if (!distributed_built()) GTEST_SKIP() << "cnnlab is built without c10d/Gloo (libgloo-dev)"
#endif

using Outcome = testing::CommandOutcome;
using testing::run_command;
using testing::TinyProject;
using testing::TinyProjectOptions;

const std::string kCnnlab = CNNLAB_BINARY;

// A model without batch norm or dropout (whose statistics and masks are per process), on a tiny
// MNIST-style dataset, in float32, without a report. `batch_norm`: a batch-norm layer after the
// convolution; `data`: lines of the [data] table.
TinyProjectOptions tiny_run(int epochs = 2, int n_train = 96, bool batch_norm = false,
                            const std::string& data = "") {
  TinyProjectOptions options;
  options.n_train = n_train;
  options.layers = testing::tiny_layers(4, batch_norm);
  options.train =
      "batch_size = 12\nprecision = \"fp32\"\nlr = 0.01\nepochs = " + std::to_string(epochs) + "\n";
  options.data = data;
  options.flags = {"--no-report"};
  return options;
}

// The weights of a run's last checkpoint, and batch norm's statistics.
std::map<std::string, torch::Tensor> weights(const fs::path& run_dir) {
  RunConfig config = load_config_file(run_dir / "config.toml");
  Network network(config.model);
  load_checkpoint(run_dir / "checkpoints" / "last.pt", *network, nullptr);
  std::map<std::string, torch::Tensor> result;
  for (const auto& item : network->named_parameters()) result[item.key()] = item.value().detach();
  for (const auto& item : network->named_buffers()) {
    if (item.value().is_floating_point()) result[item.key()] = item.value();
  }
  return result;
}

void expect_same_weights(const fs::path& a_dir, const fs::path& b_dir) {
  const auto a = weights(a_dir), b = weights(b_dir);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, value] : a) {
    EXPECT_TRUE(torch::allclose(value, b.at(name), 1e-4, 1e-6))
        << name << ": " << (value - b.at(name)).abs().max().item<double>();
  }
}

// The line a run printed that starts "Test accuracy" (or `label`); empty when none.
std::string test_line(const Outcome& run, const std::string& label = "Test accuracy") {
  const auto at = run.output.find(label);
  return at == std::string::npos ? std::string()
                                 : run.output.substr(at, run.output.find('\n', at) - at);
}

// Two processes, each on half of every batch of 12, end with the weights one process reaches
// on the whole batches: gradients averaged over the processes are the whole batch's gradient.
TEST(DistributedTest, TwoProcessesTrainTheSameWeightsAsOne) {
  SKIP_WITHOUT_DISTRIBUTED();
  TinyProject setup(tiny_run());
  const Outcome one = run_command(setup.train_command(setup.dir / "one", "--threads 1"));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  // (Reading the metrics every 5 steps, as a GPU run would, changes nothing across processes.)
  const Outcome two = run_command(
      setup.train_command(setup.dir / "two", "--nproc 2 --set train.sync_every_steps=5"));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_NE(two.output.find("× 2 processes"), std::string::npos) << two.output;
  // Rank 0 alone printed and wrote the run.
  EXPECT_EQ(two.output.find("Test accuracy"), two.output.rfind("Test accuracy")) << two.output;
  expect_same_weights(setup.dir / "one", setup.dir / "two");
  // The same losses, step by step, in the history rank 0 wrote.
  std::ifstream steps_one(setup.dir / "one" / "steps.csv"),
      steps_two(setup.dir / "two" / "steps.csv");
  std::string line_one, line_two;
  int lines = 0;
  while (std::getline(steps_one, line_one) && std::getline(steps_two, line_two)) {
    if (++lines <= 3) EXPECT_EQ(line_one, line_two);
  }
  EXPECT_EQ(lines, 1 + 2 * (86 + 11) / 12);  // header + 2 epochs of ceil(86/12) steps
  // Validation and test, shared between the processes, come to the figures of one process.
  const History history_one = read_history(setup.dir / "one"),
                history_two = read_history(setup.dir / "two");
  ASSERT_EQ(history_two.epochs.size(), 2u);
  for (std::size_t i = 0; i < history_one.epochs.size(); ++i) {
    EXPECT_NEAR(history_two.epochs[i].val_loss, history_one.epochs[i].val_loss, 1e-4);
    EXPECT_EQ(history_two.epochs[i].val_accuracy, history_one.epochs[i].val_accuracy);
  }
  EXPECT_NE(test_line(one), "") << one.output;
  EXPECT_EQ(test_line(one), test_line(two)) << two.output;
}

// Early stopping decides alike in every process (they share the validation figures), and the
// best epoch's weights are restored everywhere: 2 processes end as 1.
TEST(DistributedTest, EarlyStoppingStopsEveryProcessAtTheSameEpoch) {
  SKIP_WITHOUT_DISTRIBUTED();
  TinyProject setup(tiny_run(/*epochs=*/6));
  // No epoch after the first can improve validation accuracy by more than 1.
  const std::string stopping =
      "--set early_stopping.monitor=val_accuracy --set early_stopping.min_delta=1 "
      "--set early_stopping.patience=1 --set early_stopping.restore_best_weights=true";
  const Outcome one =
      run_command(setup.train_command(setup.dir / "one", "--threads 1 " + stopping));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_NE(one.output.find("Epoch 2: early stopping (best epoch: 1)"), std::string::npos)
      << one.output;
  const Outcome two = run_command(setup.train_command(setup.dir / "two", "--nproc 2 " + stopping));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  const auto restored =
      two.output.find("Restoring model weights from the end of the best epoch: 1.");
  EXPECT_NE(restored, std::string::npos) << two.output;
  EXPECT_EQ(restored, two.output.rfind("Restoring model weights")) << two.output;
  EXPECT_EQ(read_history(setup.dir / "two").epochs.size(), 2u);
  expect_same_weights(setup.dir / "one", setup.dir / "two");
  // Both processes test their share with the restored weights: the whole set's figure is one
  // process's.
  EXPECT_NE(test_line(one, "Test loss"), "") << one.output;
  EXPECT_EQ(test_line(one, "Test loss"), test_line(two, "Test loss")) << two.output;
  EXPECT_EQ(test_line(one), test_line(two)) << two.output;
}

// With batch norm synchronised over the processes, 2 processes train as 1 with batch norm too,
// its running statistics included; 97 images in batches of 12 leave a last batch of one image,
// so rank 1's share of it is empty and it joins the exchanges without images.
TEST(DistributedTest, SynchronisedBatchNormTrainsAsOneProcess) {
  SKIP_WITHOUT_DISTRIBUTED();
  TinyProject setup(
      tiny_run(/*epochs=*/2, /*n_train=*/97, /*batch_norm=*/true, "validation_split = 0\n"));
  const Outcome one = run_command(setup.train_command(setup.dir / "one", "--threads 1"));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const Outcome two = run_command(
      setup.train_command(setup.dir / "two", "--nproc 2 --set train.sync_batchnorm=true"));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  expect_same_weights(setup.dir / "one", setup.dir / "two");
  // Without synchronisation each process normalises by its own half: the weights differ.
  const Outcome ddp = run_command(setup.train_command(setup.dir / "ddp", "--nproc 2"));
  ASSERT_EQ(ddp.exit_code, 0) << ddp.output;
  const auto a = weights(setup.dir / "one"), c = weights(setup.dir / "ddp");
  EXPECT_FALSE(torch::allclose(a.at("Conv1.weight"), c.at("Conv1.weight"), 1e-4, 1e-6));
}

// A socket bound to a port of the loopback interface the system picked; `port` gets it.
int bound_socket(int& port) {
  const int socket_fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  EXPECT_EQ(bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  port = ntohs(address.sin_port);
  return socket_fd;
}

// Two processes (here two threads, each with its own process group) evaluate a share of the set
// each, with rank 0's batch-norm statistics, and both get the whole set's result. Rank 1's
// copy of the set has wrong labels in rank 0's share and its batch norm other statistics:
// neither may reach the result.
TEST(DistributedTest, EvaluationIsSharedBetweenProcesses) {
  SKIP_WITHOUT_DISTRIBUTED();
  const ModelSpec spec = parse_config(
                             "[[model.layers]]\ntype = \"conv2d\"\nfilters = 4\n"
                             "activation = \"relu\"\n[[model.layers]]\ntype = \"batchnorm\"\n"
                             "[[model.layers]]\ntype = \"flatten\"\n[[model.layers]]\n"
                             "type = \"dense\"\nactivation = \"softmax\"\n",
                             "test.toml")
                             .model;
  torch::manual_seed(5);
  const int64_t n = 41;
  Dataset data{torch::randint(0, 256, {n, 1, 28, 28}, torch::kUInt8),
               torch::randint(0, 10, {n}, torch::kInt64),
               {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}};
  std::vector<Network> networks{Network(spec), Network(spec)};
  {
    torch::NoGradGuard no_grad;
    for (auto& buffer : networks[0]->buffers()) {
      if (buffer.is_floating_point()) buffer.uniform_(0.5, 1.5);
    }
    const auto from = networks[0]->parameters(), to = networks[1]->parameters();
    for (std::size_t i = 0; i < from.size(); ++i) to[i].copy_(from[i]);
  }
  const EvalResult whole = evaluate(networks[0], data, {}, 8);
  Dataset skewed = data;
  skewed.labels = data.labels.clone();
  skewed.labels.slice(0, 0, n / 2).add_(1).remainder_(10);

  int port = 0;
  close(bound_socket(port));  // free again, for rank 0 to serve the rendezvous on
  EvalResult results[2];
  std::string errors[2];
  auto rank = [&](int64_t r) {
    try {
      DistributedOptions options;
      options.rank = r;
      options.world_size = 2;
      options.master_port = port;
      options.timeout = std::chrono::seconds(60);
      ProcessGroup group(options);
      results[r] =
          evaluate(networks[r], r == 0 ? data : skewed, {}, 8, Precision::kFloat32, &group);
    } catch (const std::exception& e) {
      errors[r] = e.what();
    }
  };
  std::thread rank_0(rank, 0), rank_1(rank, 1);
  rank_0.join();
  rank_1.join();
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(errors[r], "") << "rank " << r;
    EXPECT_EQ(results[r].count, n) << "rank " << r;
    EXPECT_DOUBLE_EQ(results[r].accuracy, whole.accuracy) << "rank " << r;
    EXPECT_NEAR(results[r].loss, whole.loss, 1e-6 * whole.loss) << "rank " << r;
  }
}

pid_t start(const std::string& command, const fs::path& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // a process group of its own, as a terminal gives a command
    const std::string line = command + " > " + log.string() + " 2>&1";
    execl("/bin/sh", "sh", "-c", ("exec " + line).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

std::vector<pid_t> children(pid_t pid) {
  std::vector<pid_t> found;
  std::error_code error;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", error)) {
    std::ifstream in(task.path() / "children");
    pid_t child;
    while (in >> child) found.push_back(child);
  }
  return found;
}

// Waits for `pid` up to `limit`; returns its exit code, or -1 when it is still running.
int wait_for(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const auto orphans = children(pid);
  kill(pid, SIGKILL);
  for (pid_t child : orphans) kill(child, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

// Generous guards against a hang: every wait below ends long before them on a working build.
constexpr auto kHangGuard = std::chrono::seconds(300);

// A run long enough to be stopped in the middle, with both ranks started and training: the
// launcher's two children are found once the run's history has its first step.
pid_t start_long_run(const TinyProject& setup, const fs::path& log, const std::string& environment,
                     std::vector<pid_t>& ranks) {
  const pid_t pid =
      start("env " + environment + " " + setup.train_command(setup.dir / "run", "--nproc 2"), log);
  const auto deadline = Clock::now() + kHangGuard;
  while (Clock::now() < deadline && read_history(setup.dir / "run").steps.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ranks = children(pid);
  return pid;
}

// Starts a long run in 2 processes, sends `signal` to rank 1 once both train, and returns what
// the launcher printed and its exit code (-1: still running after `limit`, then killed).
Outcome disturb_rank_1(int signal, const std::string& environment, std::chrono::seconds limit) {
  TinyProject setup(tiny_run(/*epochs=*/400));
  std::vector<pid_t> ranks;
  const pid_t pid = start_long_run(setup, setup.dir / "run.log", environment, ranks);
  if (ranks.size() != 2 || read_history(setup.dir / "run").steps.empty()) {
    wait_for(pid, std::chrono::seconds(0));
    return {-2,
            "the two ranks were not found training: " + testing::read_file(setup.dir / "run.log")};
  }
  kill(ranks[1], signal);
  const int exit_code = wait_for(pid, limit);
  return {exit_code, testing::read_file(setup.dir / "run.log")};
}

TEST(DistributedTest, AKilledRankStopsTheOthersWithAMessage) {
  SKIP_WITHOUT_DISTRIBUTED();
  const Outcome outcome = disturb_rank_1(SIGKILL, "", kHangGuard);
  EXPECT_EQ(outcome.exit_code, 1) << outcome.output;
  EXPECT_NE(outcome.output.find("rank 1 of 2"), std::string::npos) << outcome.output;
  EXPECT_NE(outcome.output.find("killed by signal 9"), std::string::npos) << outcome.output;
  EXPECT_NE(outcome.output.find("rank 0: lost the other processes"), std::string::npos)
      << outcome.output;
}

// Rank 1 stopped (SIGSTOP) hangs every exchange: rank 0 gives up after the timeout, the launcher
// names it and kills the hung one.
TEST(DistributedTest, AHungRankMakesTheOthersStopAfterTheTimeout) {
  SKIP_WITHOUT_DISTRIBUTED();
  const Outcome outcome = disturb_rank_1(SIGSTOP, "CNNLAB_DIST_TIMEOUT=2", kHangGuard);
  EXPECT_EQ(outcome.exit_code, 1) << outcome.output;
  EXPECT_NE(outcome.output.find("rank 0 of 2"), std::string::npos) << outcome.output;
  EXPECT_NE(outcome.output.find("rank 0: lost the other processes"), std::string::npos)
      << outcome.output;
  EXPECT_NE(outcome.output.find("rank 1 of 2"), std::string::npos) << outcome.output;
  EXPECT_NE(outcome.output.find("(hung?)"), std::string::npos) << outcome.output;
}

// Ctrl-C stops every rank after the same step and rank 0 saves; `--resume --nproc 2` then ends
// with the weights of a run never interrupted.
TEST(DistributedTest, AnInterruptedRunResumes) {
  SKIP_WITHOUT_DISTRIBUTED();
  TinyProject setup(tiny_run(/*epochs=*/60));
  const Outcome whole = run_command(setup.train_command(setup.dir / "whole", "--nproc 2"));
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  std::vector<pid_t> ranks;
  const pid_t pid = start_long_run(setup, setup.dir / "run.log", "", ranks);
  ASSERT_EQ(ranks.size(), 2u) << testing::read_file(setup.dir / "run.log");
  ASSERT_FALSE(read_history(setup.dir / "run").steps.empty())
      << testing::read_file(setup.dir / "run.log");
  kill(-pid, SIGINT);  // as Ctrl-C does: to the whole process group
  ASSERT_EQ(wait_for(pid, kHangGuard), 130) << testing::read_file(setup.dir / "run.log");
  ASSERT_TRUE(fs::exists(setup.dir / "run" / "checkpoints" / "last.pt"));
  const Outcome resumed = run_command(kCnnlab + " train --resume " + (setup.dir / "run").string() +
                                      " --data-dir " + setup.data_dir + " --no-report --nproc 2");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  const auto a = weights(setup.dir / "whole"), b = weights(setup.dir / "run");
  for (const auto& [name, value] : a) {
    EXPECT_TRUE(torch::allclose(value, b.at(name), 1e-5, 1e-7)) << name;
  }
}

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// A GPU device or a broken config would stop every rank; --nproc says so once, starting none.
TEST(DistributedTest, WhatEveryRankWouldRefuseIsSaidOnce) {
  TinyProject setup(tiny_run());
  const fs::path out = setup.dir / "refused";
  Outcome gpu = run_command(setup.train_command(out, "--nproc 2 --device cuda"));
  EXPECT_EQ(gpu.exit_code, 1);
  EXPECT_EQ(count(gpu.output, "error:"), 1u) << gpu.output;
  EXPECT_NE(gpu.output.find(distributed_built() ? "cuda" : "--nproc 2"), std::string::npos)
      << gpu.output;
  Outcome config = run_command(setup.train_command(out, "--nproc 2 --set train.epochs=zero"));
  EXPECT_EQ(config.exit_code, 1);
  EXPECT_EQ(count(config.output, "error:"), 1u) << config.output;
  EXPECT_NE(config.output.find("train.epochs: expected an integer, found string 'zero'"),
            std::string::npos)
      << config.output;
  EXPECT_FALSE(fs::exists(out));
}

TEST(DistributedTest, BadEnvironmentsAreClearErrors) {
  SKIP_WITHOUT_DISTRIBUTED();
  TinyProject setup(tiny_run());
  const auto out = (setup.dir / "bad").string();
  Outcome rank = run_command("WORLD_SIZE=2 RANK=5 MASTER_ADDR=127.0.0.1 MASTER_PORT=29999 " +
                             setup.train_command(out));
  EXPECT_EQ(rank.exit_code, 1);
  EXPECT_NE(rank.output.find("RANK: expected a whole number in [0, 1], found '5'"),
            std::string::npos)
      << rank.output;
  Outcome port = run_command("WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=http " +
                             setup.train_command(out));
  EXPECT_NE(port.output.find("MASTER_PORT: expected a whole number"), std::string::npos)
      << port.output;
  // Nobody serves the rendezvous: rank 1 gives up after the timeout, naming where it looked.
  Outcome unreachable = run_command(
      "WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=1 "
      "CNNLAB_DIST_TIMEOUT=2 " +
      setup.train_command(out));
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_NE(unreachable.output.find("127.0.0.1:1: rank 1 could not reach the rendezvous"),
            std::string::npos)
      << unreachable.output;

  // Rank 0 cannot serve the rendezvous on a port another program holds.
  int held_port = 0;
  const int holder = bound_socket(held_port);
  ASSERT_EQ(listen(holder, 1), 0);
  const std::string taken = std::to_string(held_port);
  Outcome busy = run_command("WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + taken +
                             " CNNLAB_DIST_TIMEOUT=2 " + setup.train_command(out));
  close(holder);
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_NE(busy.output.find("127.0.0.1:" + taken + ": rank 0 could not serve the rendezvous"),
            std::string::npos)
      << busy.output;

  // Processes started with different world sizes: the odd one out says so.
  const std::string shared_port = std::to_string(29400 + getpid() % 500);
  const pid_t lead =
      start("env WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + shared_port +
                " CNNLAB_DIST_TIMEOUT=3 " + setup.train_command(setup.dir / "world"),
            setup.dir / "lead.log");
  Outcome odd = run_command("WORLD_SIZE=3 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + shared_port +
                            " CNNLAB_DIST_TIMEOUT=3 " + setup.train_command(setup.dir / "world"));
  EXPECT_EQ(odd.exit_code, 1);
  EXPECT_NE(odd.output.find("WORLD_SIZE: rank 1 was started with 3, rank 0 with 2"),
            std::string::npos)
      << odd.output;
  EXPECT_EQ(wait_for(lead, kHangGuard), 1) << testing::read_file(setup.dir / "lead.log");
}

}  // namespace
}  // namespace cnnlab
