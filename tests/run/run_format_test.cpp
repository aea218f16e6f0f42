// Runs written by older versions of cnnlab still load: evaluate, report and resume read the run
// folders under tests/fixtures/run-v1, which are never regenerated.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cnnlab/report/report.h"
#include "cnnlab/report/run_analysis.h"
#include "cnnlab/run/run.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

const fs::path kFixtures = fs::path(CNNLAB_SOURCE_DIR) / "tests/fixtures/run-v1";

nlohmann::json metrics_of(const fs::path& run_dir) {
  std::ifstream in(run_dir / "metrics.json");
  return nlohmann::json::parse(in);
}

// The tiny dataset the fixtures were trained on.
DataRoot tiny_data(const TempDir& dir) {
  testing::write_tiny_mnist(dir / "data" / "mnist", 60, 20);
  return DataRoot{dir / "data", "--data-dir"};
}

TEST(RunFormatTest, ACompletedOldRunEvaluatesToItsRecordedLossAndReports) {
  TempDir dir;
  const DataRoot root = tiny_data(dir);
  const fs::path run_dir = kFixtures / "complete";
  EXPECT_TRUE(recorded_data_root(run_dir).empty());

  LoadedRun run = load_run(run_dir, "last");
  const Dataset test = load_test_set(run.config.data, root);
  const EvalResult result = evaluate(run.network, test, run.normalization, 6);
  const auto metrics = metrics_of(run_dir);
  EXPECT_NEAR(result.loss, metrics["test_loss"].get<double>(), 1e-6);
  EXPECT_DOUBLE_EQ(result.accuracy, metrics["test_accuracy"].get<double>());
  EXPECT_EQ(result.count, 20);

  // The report reads its history, weight histograms and both checkpoints.
  const RunAnalysis analysis = analyze_run(run_dir, root);
  EXPECT_EQ(analysis.test_count, 20);
  EXPECT_EQ(analysis.epoch_weight_histograms.size(), 6u);
  const fs::path page = dir / "report.html";
  write_report({analysis}, page);
  EXPECT_NE(testing::read_file(page).find("v1-run"), std::string::npos);
}

TEST(RunFormatTest, AnInterruptedOldRunResumesToTheWeightsOfTheWholeRun) {
  TempDir dir;
  const DataRoot root = tiny_data(dir);
  const fs::path run_dir = dir / "interrupted";
  fs::copy(kFixtures / "interrupted", run_dir, fs::copy_options::recursive);

  const RunResult result = resume_run(run_dir, root);
  ASSERT_EQ(result.status, FitStatus::kCompleted);
  EXPECT_EQ(result.epochs_done, 6);
  EXPECT_NEAR(result.test.loss, metrics_of(kFixtures / "complete")["test_loss"].get<double>(),
              1e-6);

  LoadedRun resumed = load_run(run_dir, "last");
  LoadedRun whole = load_run(kFixtures / "complete", "last");
  const auto expected = whole.network->named_parameters();
  for (const auto& item : resumed.network->named_parameters()) {
    EXPECT_TRUE(torch::allclose(item.value(), expected[item.key()], 0, 1e-6)) << item.key();
  }
}

}  // namespace
}  // namespace cnnlab
