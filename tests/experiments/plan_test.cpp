#include "cnnlab/experiments/plan.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>

#include "cnnlab/app/experiment_jobs.h"
#include "cnnlab/experiments/sweep.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::write_text;

// A sweep over a small conv net on a striped image folder (12×12 images): kernel 13 cannot be
// built (larger than the image), the other points train in a second or two.
class PlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_striped_folder(dir_ / "stripes", "across", "down", 40);
    write_text(dir_ / "base.toml", testing::striped_folder_config(dir_ / "stripes", 2));
    write_text(dir_ / "sweep.toml",
               "name = \"kernels\"\nconfig = \"base.toml\"\nset = [\"train.threads=1\"]\n"
               "[grid]\n\"model.layers.Conv*.kernel\" = [3, 13, 5]\n");
    spec_ = load_sweep_file(dir_ / "sweep.toml");
  }

  TempDir dir_;
  SweepSpec spec_;
  const DataRoot root_{"", "test"};
};

TEST_F(PlanTest, AnImpossiblePointIsReportedAndTheSweepGoesOn) {
  std::vector<std::string> began;
  ExperimentCallbacks callbacks;
  callbacks.write_reports = false;
  callbacks.on_run_begin = [&](std::size_t index, std::size_t total, const PlannedRun& run,
                               const TimeLeft&) {
    began.push_back(fmt::format("{}/{} {}", index + 1, total, run.label));
  };
  const auto outcome = run_sweep(spec_, dir_ / "runs", root_, callbacks);
  EXPECT_EQ(began, (std::vector<std::string>{"1/3 kernel=3", "2/3 kernel=13", "3/3 kernel=5"}));
  ASSERT_EQ(outcome.runs.size(), 3u);
  EXPECT_EQ(outcome.runs[0].status, RunStatus::kTrained);
  EXPECT_EQ(outcome.runs[1].status, RunStatus::kCannotBuild);  // as Keras could not build it
  EXPECT_NE(outcome.runs[1].error.find("kernel 13x13 is larger than its input 12x12"),
            std::string::npos)
      << outcome.runs[1].error;
  EXPECT_EQ(outcome.runs[2].status, RunStatus::kTrained);
  EXPECT_TRUE(fs::exists(dir_ / "runs" / "kernel=5" / "metrics.json"));
  EXPECT_EQ(outcome.runs[2].metrics["test_accuracy"].is_number(), true);

  // The comparison page and its CSV name the failure.
  ASSERT_EQ(outcome.page, dir_ / "runs" / "sweep.html");
  std::ifstream page(outcome.page), csv(dir_ / "runs" / "sweep.csv");
  const std::string html((std::istreambuf_iterator<char>(page)), {});
  const std::string table((std::istreambuf_iterator<char>(csv)), {});
  EXPECT_NE(html.find("kernel=13: "), std::string::npos);
  EXPECT_NE(html.find("larger than its input"), std::string::npos);
  EXPECT_NE(table.find("kernel=13,13,cannot be built"), std::string::npos) << table;
  EXPECT_NE(table.find("kernel=5,5,trained,0."), std::string::npos) << table;
}

TEST_F(PlanTest, AnInterruptedSweepResumesWithoutRetrainingFinishedPoints) {
  // First call: stop in the middle of the third point (kernel=5).
  int steps = 0;
  std::string current;
  ExperimentCallbacks callbacks;
  callbacks.write_reports = false;
  callbacks.on_run_begin = [&](std::size_t, std::size_t, const PlannedRun& run, const TimeLeft&) {
    current = run.label;
  };
  callbacks.trainer.on_step_end = [&](const StepEvent&) { ++steps; };
  callbacks.trainer.stop_requested = [&] { return current == "kernel=5" && steps > 3; };
  auto first = run_sweep(spec_, dir_ / "runs", root_, callbacks);
  EXPECT_TRUE(first.interrupted);
  EXPECT_TRUE(first.page.empty());
  EXPECT_EQ(first.runs[0].status, RunStatus::kTrained);
  EXPECT_EQ(first.runs[2].status, RunStatus::kInterrupted);
  EXPECT_FALSE(fs::exists(dir_ / "runs" / "kernel=5" / "metrics.json"));
  EXPECT_TRUE(fs::exists(dir_ / "runs" / "kernel=5" / "config.toml"));
  const auto finished_at = fs::last_write_time(dir_ / "runs" / "kernel=3" / "metrics.json");

  // Second call: the finished point is not trained again, the interrupted one resumes.
  std::vector<std::string> trained;
  std::vector<TimeLeft> left;
  callbacks.trainer.stop_requested = [] { return false; };
  callbacks.trainer.on_epoch_begin = [&](int64_t, int64_t, int64_t) { trained.push_back(current); };
  callbacks.on_run_begin = [&](std::size_t, std::size_t, const PlannedRun& run,
                               const TimeLeft& time) {
    current = run.label;
    left.push_back(time);
  };
  auto second = run_sweep(spec_, dir_ / "runs", root_, callbacks);
  EXPECT_FALSE(second.interrupted);
  EXPECT_EQ(second.runs[0].status, RunStatus::kAlreadyDone);
  EXPECT_EQ(second.runs[2].status, RunStatus::kTrained);
  EXPECT_EQ(fs::last_write_time(dir_ / "runs" / "kernel=3" / "metrics.json"), finished_at);
  for (const auto& label : trained) EXPECT_EQ(label, "kernel=5");
  EXPECT_FALSE(trained.empty());
  // The time left is estimated from the finished point (same config): one run left to train.
  ASSERT_EQ(left.size(), 3u);
  EXPECT_GT(left[0].seconds, 0);
  EXPECT_EQ(left[0].untimed, 0u);
  EXPECT_TRUE(fs::exists(dir_ / "runs" / "kernel=5" / "metrics.json"));
  EXPECT_FALSE(second.page.empty());
}

TEST_F(PlanTest, AFolderHoldingARunWithOtherOptionsIsReportedNotReused) {
  // A finished point (kernel=3) and an interrupted one (kernel=5).
  int steps = 0;
  std::string current;
  std::vector<std::string> trained;
  ExperimentCallbacks callbacks;
  callbacks.write_reports = false;
  callbacks.on_run_begin = [&](std::size_t, std::size_t, const PlannedRun& run, const TimeLeft&) {
    current = run.label;
  };
  callbacks.trainer.on_step_end = [&](const StepEvent&) { ++steps; };
  callbacks.trainer.on_epoch_begin = [&](int64_t, int64_t, int64_t) { trained.push_back(current); };
  callbacks.trainer.stop_requested = [&] { return current == "kernel=5" && steps > 3; };
  ASSERT_TRUE(run_sweep(spec_, dir_ / "runs", root_, callbacks).interrupted);
  callbacks.trainer.stop_requested = [] { return true; };
  const auto sweep_with = [&](const std::string& set) {
    write_text(dir_ / "sweep.toml",
               "name = \"kernels\"\nconfig = \"base.toml\"\nset = [" + set +
                   "]\n[grid]\n\"model.layers.Conv*.kernel\" = [3, 13, 5]\n");
    return run_sweep(load_sweep_file(dir_ / "sweep.toml"), dir_ / "runs", root_, callbacks);
  };

  // Another thread count trains the same run: the finished point is kept.
  EXPECT_EQ(sweep_with("\"train.threads=2\"").runs[0].status, RunStatus::kAlreadyDone);

  // Another learning rate would not: neither folder is kept or resumed, and the error says what
  // changed and what to do.
  trained.clear();
  const auto changed = sweep_with("\"train.threads=1\", \"train.lr=0.05\"");
  for (const std::size_t i : {0u, 2u}) {
    const RunOutcome& run = changed.runs[i];
    EXPECT_EQ(run.status, RunStatus::kFailed) << run.run.label;
    EXPECT_NE(run.error.find(run.run.label + ": holds a run trained with other options"),
              std::string::npos)
        << run.error;
    EXPECT_NE(run.error.find("[train] lr = 0.01 in the run, lr = 0.05"), std::string::npos)
        << run.error;
  }
  EXPECT_TRUE(trained.empty());
  EXPECT_FALSE(fs::exists(dir_ / "runs" / "kernel=5" / "metrics.json"));
}

TEST_F(PlanTest, FinishedRunsGetTheirReports) {
  ExperimentCallbacks callbacks;
  callbacks.analysis.gallery_size(4).saliency_count(1);
  const auto outcome = run_sweep(spec_, dir_ / "runs", root_, callbacks);
  EXPECT_TRUE(fs::exists(dir_ / "runs" / "kernel=3" / "report.html"));
  EXPECT_FALSE(fs::exists(dir_ / "runs" / "kernel=13" / "report.html"));
  std::ifstream page(outcome.page);
  const std::string html((std::istreambuf_iterator<char>(page)), {});
  EXPECT_NE(html.find("href=\"kernel=3/report.html\""), std::string::npos);
}

}  // namespace
}  // namespace cnnlab
