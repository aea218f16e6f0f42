// Kills real training processes (SIGKILL) at chosen moments — between steps, around and inside
// checkpoint writes, before and inside the report's — and checks that every run directory
// resumes to the weights of a run never interrupted. Fills a disk and makes the run directory
// read-only under a run, and checks the error is clear and the previous checkpoint survives.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cnnlab/run/history_files.h"
#include "cnnlab/run/run.h"
#include "support/temp_dir.h"
#include "support/tiny_project.h"

namespace cnnlab {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::TinyProject;
using testing::TinyProjectOptions;

using testing::read_file;

// How the child process is restricted before it runs cnnlab.
struct Limits {
  /// Drop root's power to write where permissions forbid it (CAP_DAC_OVERRIDE and friends), so
  /// that a read-only directory is read-only to a test running as root too.
  bool obey_permissions = false;
};

// Exit code of a child that could not apply its Limits.
constexpr int kCannotRestrict = 125;

// Starts cnnlab with `args`, its output going to `log`.
pid_t spawn_cnnlab(const std::vector<std::string>& args, const fs::path& log,
                   const Limits& limits = {}) {
  std::vector<std::string> all{CNNLAB_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log_path = log.string();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // The child: only async-signal-safe calls until exec.
  const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) _exit(kCannotRestrict);
  dup2(fd, 1);
  dup2(fd, 2);
  if (limits.obey_permissions && geteuid() == 0) {
    for (int cap : {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER}) {
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) _exit(kCannotRestrict);
    }
  }
  execv(argv[0], argv.data());
  _exit(127);
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run_cnnlab(const std::vector<std::string>& args, const fs::path& log,
               const Limits& limits = {}) {
  return wait_exit_code(spawn_cnnlab(args, log, limits));
}

// A small model on a tiny MNIST-style dataset (4x4 images), checkpointed every 5 steps, with
// its report: one run takes about a second.
TinyProjectOptions crash_project() {
  TinyProjectOptions options;
  options.name = "crash";
  options.n_train = 300;
  options.layers = testing::tiny_layers(8, false, 64);
  options.train =
      "batch_size = 10\nepochs = 4\ncheckpoint_every_steps = 5\nthreads = 1\nseed = 3\n";
  return options;
}

// Parameters and buffers of the run's last checkpoint agree to the bit with the reference's.
::testing::AssertionResult same_weights(const fs::path& run, const fs::path& reference) {
  LoadedRun a = load_run(run, "last");
  LoadedRun b = load_run(reference, "last");
  const auto pa = a.network->named_parameters(), pb = b.network->named_parameters();
  for (const auto& item : pa) {
    if (!torch::equal(item.value(), pb[item.key()])) {
      return ::testing::AssertionFailure() << run.filename() << ": " << item.key() << " differs";
    }
  }
  const auto ba = a.network->named_buffers(), bb = b.network->named_buffers();
  for (const auto& item : ba) {
    if (!torch::equal(item.value(), bb[item.key()])) {
      return ::testing::AssertionFailure() << run.filename() << ": " << item.key() << " differs";
    }
  }
  return ::testing::AssertionSuccess();
}

std::vector<fs::path> temporary_files(const fs::path& dir) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.path().extension() == ".tmp") found.push_back(entry.path());
  }
  return found;
}

// The first half of `from`'s bytes at `to`: what a kill in the middle of an atomic write leaves
// behind (the complete file is only ever renamed into place).
void write_half(const fs::path& from, const fs::path& to) {
  const std::string bytes = read_file(from);
  ASSERT_GT(bytes.size(), 2u) << from;
  std::ofstream(to, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
}

// The test accuracy metrics.json records, as the report's results table prints it.
std::string recorded_test_accuracy(const fs::path& run) {
  const auto metrics = nlohmann::json::parse(read_file(run / "metrics.json"));
  return fmt::format("<td class=\"num\">{:.4f}</td>", metrics.at("test_accuracy").get<double>());
}

// Where a run is killed (train --kill-at), and what it leaves that a kill in the middle of a
// write would leave.
struct KillPoint {
  std::string at;            // --kill-at: step:N or report
  std::string half_written;  // a file of the run to leave half-written as a .tmp, or empty
};

TEST(CrashSafetyTest, KillNineAnywhereResumesToTheSameWeights) {
  TinyProject setup(crash_project());
  const fs::path reference = setup.dir / "reference";
  ASSERT_EQ(run_cnnlab(setup.train_args(reference), setup.dir / "reference.log"), 0)
      << read_file(setup.dir / "reference.log");
  const History whole = read_history(reference);
  ASSERT_EQ(whole.epochs.size(), 4u);
  const int64_t per_epoch = whole.epochs.front().steps;
  const auto last = static_cast<int64_t>(whole.steps.size());
  ASSERT_GT(per_epoch, 6);  // the kills below land in the first epoch's checkpoints

  // Checkpoints follow every 5th step and every epoch's end; a kill at a step comes after the
  // step's history line and before the checkpoint that may follow it.
  const auto step = [](int64_t n) { return "step:" + std::to_string(n); };
  const std::vector<KillPoint> points = {
      {step(1), ""},                        // before any checkpoint: training starts over
      {step(5), ""},                        // just before the first checkpoint
      {step(6), ""},                        // just after it
      {step(7), "checkpoints/last.pt"},     // inside the next write of last.pt
      {step(per_epoch), ""},                // the first epoch's last step, before its checkpoint
      {step(per_epoch + 1), ""},            // the first step after an epoch's checkpoint
      {step(last), "checkpoints/last.pt"},  // inside the last checkpoint's write
      {"report", ""},                       // trained, before the report
      {"report", "report.html"},            // inside the report's write
  };
  for (std::size_t i = 0; i < points.size(); ++i) {
    const KillPoint& point = points[i];
    const fs::path run = setup.dir / ("run-" + std::to_string(i));
    auto args = setup.train_args(run);
    args.insert(args.end(), {"--kill-at", point.at});
    const fs::path log = setup.dir / ("killed-" + std::to_string(i) + ".log");
    ASSERT_EQ(run_cnnlab(args, log), 128 + SIGKILL) << point.at << "\n" << read_file(log);

    // The kill landed where it was sent.
    const History left = read_history(run);
    if (point.at == "report") {
      EXPECT_EQ(left.steps.size(), whole.steps.size());
      EXPECT_TRUE(fs::exists(run / "metrics.json")) << point.at;
      EXPECT_FALSE(fs::exists(run / "report.html")) << point.at;
    } else {
      EXPECT_EQ(static_cast<int64_t>(left.steps.size()), std::stoll(point.at.substr(5)));
      EXPECT_FALSE(fs::exists(run / "metrics.json")) << point.at;
    }
    if (!point.half_written.empty()) {
      // The killed run's own file where it has one (a checkpoint), else the reference's.
      const fs::path own = run / point.half_written;
      write_half(fs::exists(own) ? own : reference / point.half_written, own.string() + ".tmp");
    }

    const fs::path resumed = setup.dir / ("resumed-" + std::to_string(i) + ".log");
    ASSERT_EQ(run_cnnlab(setup.resume_args(run), resumed), 0) << point.at << "\n"
                                                              << read_file(resumed);
    EXPECT_TRUE(same_weights(run, reference)) << point.at;
    EXPECT_EQ(recorded_test_accuracy(run), recorded_test_accuracy(reference)) << point.at;
    const std::string report = read_file(run / "report.html");
    EXPECT_NE(report.find(recorded_test_accuracy(run)), std::string::npos) << point.at;
    EXPECT_NE(report.find("</html>"), std::string::npos) << point.at;
    const History history = read_history(run);
    EXPECT_EQ(history.steps.size(), whole.steps.size()) << point.at;
    EXPECT_EQ(history.epochs.size(), whole.epochs.size()) << point.at;
    EXPECT_TRUE(temporary_files(run).empty()) << point.at << ": " << temporary_files(run).front();
  }
}

// A run killed after step 7, so after its first checkpoint (step 5): a run directory to resume.
fs::path interrupted_run(const TinyProject& setup, const std::string& name) {
  const fs::path run = setup.dir / name;
  auto args = setup.train_args(run);
  args.insert(args.end(), {"--kill-at", "step:7"});
  const fs::path log = setup.dir / (name + ".log");
  EXPECT_EQ(run_cnnlab(args, log), 128 + SIGKILL) << read_file(log);
  EXPECT_TRUE(fs::exists(run / "checkpoints" / "last.pt")) << read_file(log);
  return run;
}

void expect_clean_error(int exit_code, const std::string& output, const std::string& message) {
  EXPECT_EQ(exit_code, 1) << output;
  EXPECT_NE(output.find("cnnlab: error: "), std::string::npos) << output;
  EXPECT_NE(output.find(message), std::string::npos) << output;
  EXPECT_EQ(output.find("Exception raised from"), std::string::npos) << output;
  EXPECT_EQ(output.find("terminate called"), std::string::npos) << output;
}

// `run` resumes, finishes, and holds the weights of a run never interrupted.
void expect_resumes_to_the_reference(const TinyProject& setup, const fs::path& run) {
  ASSERT_EQ(run_cnnlab(setup.resume_args(run), setup.dir / "resumed.log"), 0)
      << read_file(setup.dir / "resumed.log");
  ASSERT_EQ(run_cnnlab(setup.train_args(setup.dir / "reference"), setup.dir / "reference.log"), 0);
  EXPECT_TRUE(same_weights(run, setup.dir / "reference"));
}

TEST(CrashSafetyTest, ReadOnlyRunDirectoryKeepsTheCheckpoint) {
  TinyProject setup(crash_project());
  const fs::path run = interrupted_run(setup, "run");
  const std::string checkpoint = read_file(run / "checkpoints" / "last.pt");
  ASSERT_FALSE(checkpoint.empty());
  for (const fs::path& dir : {run, run / "checkpoints"}) {
    fs::permissions(dir, fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                    fs::perm_options::remove);
  }
  const fs::path log = setup.dir / "read-only.log";
  const int code = run_cnnlab(setup.resume_args(run), log, Limits{true});
  if (code == kCannotRestrict) GTEST_SKIP() << "cannot drop root's override of permissions here";
  expect_clean_error(code, read_file(log), "Permission denied");
  EXPECT_EQ(read_file(run / "checkpoints" / "last.pt"), checkpoint);

  // Writable again, the run resumes and ends as a run never interrupted.
  for (const fs::path& dir : {run, run / "checkpoints"}) {
    fs::permissions(dir, fs::perms::owner_write, fs::perm_options::add);
  }
  expect_resumes_to_the_reference(setup, run);
}

// The run directory moves to a small file system, filled up but for a few pages: the history
// files still fit, the next checkpoint does not.
TEST(CrashSafetyTest, FullDiskKeepsTheCheckpoint) {
  TinyProject setup(crash_project());
  const fs::path run = interrupted_run(setup, "run");
  const fs::path disk = setup.dir / "disk";
  fs::create_directories(disk);
  if (geteuid() != 0 || mount("tmpfs", disk.c_str(), "tmpfs", 0, "size=16m") != 0) {
    GTEST_SKIP() << "mounting a small tmpfs needs root (or is not allowed here)";
  }
  struct Unmount {
    fs::path dir;
    ~Unmount() { umount2(dir.c_str(), MNT_DETACH); }
  } unmount{disk};
  const fs::path full_run = disk / "run";
  fs::copy(run, full_run, fs::copy_options::recursive);
  const std::string checkpoint = read_file(full_run / "checkpoints" / "last.pt");
  ASSERT_GT(checkpoint.size(), 32u << 10);
  {
    // Fill the disk, then give back 16 KiB: less than a checkpoint, more than the history.
    std::ofstream filler(disk / "filler", std::ios::binary);
    const std::string block(4096, 'x');
    while (filler.write(block.data(), block.size())) {
    }
  }
  fs::resize_file(disk / "filler", fs::file_size(disk / "filler") - (16 << 10));
  const fs::path log = setup.dir / "full.log";
  const int code = run_cnnlab(setup.resume_args(full_run), log);
  expect_clean_error(code, read_file(log), "No space left on device");
  EXPECT_NE(read_file(log).find("last.pt"), std::string::npos) << read_file(log);
  EXPECT_EQ(read_file(full_run / "checkpoints" / "last.pt"), checkpoint);
  EXPECT_TRUE(temporary_files(full_run).empty());

  // With room again, the run resumes and ends as a run never interrupted.
  fs::remove(disk / "filler");
  expect_resumes_to_the_reference(setup, full_run);
}

// A reader polling the history files while a run writes them (a dashboard, `tail -f`, pandas)
// always finds whole records, in order, never fewer than before.
TEST(CrashSafetyTest, HistoryStaysReadableWhileItIsWritten) {
  TinyProject setup(crash_project());
  const fs::path run = setup.dir / "run";
  const pid_t pid = spawn_cnnlab(setup.train_args(run), setup.dir / "run.log");
  std::size_t reads = 0, last_steps = 0, last_epochs = 0;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    History history;
    ASSERT_NO_THROW(history = read_history(run)) << "after " << reads << " reads";
    ++reads;
    ASSERT_GE(history.steps.size(), last_steps);
    ASSERT_GE(history.epochs.size(), last_epochs);
    for (std::size_t i = 0; i < history.steps.size(); ++i) {
      ASSERT_EQ(history.steps[i].global_step, static_cast<int64_t>(i + 1));
    }
    last_steps = history.steps.size();
    last_epochs = history.epochs.size();
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(setup.dir / "run.log");
  const History done = read_history(run);
  ASSERT_EQ(done.epochs.size(), 4u);
  EXPECT_EQ(static_cast<int64_t>(done.steps.size()), 4 * done.epochs.back().steps);
  EXPECT_GT(reads, 20u);
}

}  // namespace
}  // namespace cnnlab
