#include "cnnlab/run/run_dir.h"

#include <gtest/gtest.h>

#include "cnnlab/error.h"
#include "cnnlab/run/metrics.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

namespace fs = std::filesystem;

// The names are the format of a run directory: runs written by older versions use them too.
TEST(RunDirTest, NamesTheFilesOfARun) {
  const RunDir run("runs/a");
  EXPECT_EQ(run.config(), fs::path("runs/a/config.toml"));
  EXPECT_EQ(run.summary(), fs::path("runs/a/summary.txt"));
  EXPECT_EQ(run.data_root(), fs::path("runs/a/data_root.txt"));
  EXPECT_EQ(run.steps(), fs::path("runs/a/steps.csv"));
  EXPECT_EQ(run.epochs(), fs::path("runs/a/epochs.csv"));
  EXPECT_EQ(run.weight_histograms(7), fs::path("runs/a/weights/epoch-007.json"));
  EXPECT_EQ(run.checkpoint(CheckpointKind::kLast), fs::path("runs/a/checkpoints/last.pt"));
  EXPECT_EQ(run.checkpoint("best"), fs::path("runs/a/checkpoints/best.pt"));
  EXPECT_EQ(run.metrics(), fs::path("runs/a/metrics.json"));
  EXPECT_EQ(run.report(), fs::path("runs/a/report.html"));
  EXPECT_THROW(run.checkpoint("first"), ConfigError);
}

TEST(RunDirTest, HoldsARunOnceItHasItsConfig) {
  testing::TempDir dir;
  const RunDir run(dir / "run");
  EXPECT_FALSE(run.holds_run());
  fs::create_directories(run.path());
  EXPECT_FALSE(run.holds_run());
  testing::write_text(run.config(), "name = 'x'\n");
  EXPECT_TRUE(run.holds_run());
}

}  // namespace
}  // namespace cnnlab

namespace cnnlab {
namespace {

TEST(RunMetricsTest, RoundTripAndAClearErrorForAnythingElse) {
  testing::TempDir dir;
  const RunDir run(dir.path());
  EXPECT_TRUE(read_metrics(run).is_null());  // not finished
  const RunMetrics metrics = {{"test_accuracy", 0.9933}, {"test_count", 10000}};
  write_metrics(run, metrics);
  EXPECT_EQ(read_metrics(run), metrics);
  testing::write_text(run.metrics(), "[1, 2");
  try {
    read_metrics(run);
    FAIL() << "a cut-short file was read";
  } catch (const DataFormatError& e) {
    EXPECT_NE(std::string(e.what()).find(run.metrics().string()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cnnlab
