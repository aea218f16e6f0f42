#include "cnnlab/report/report.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "cnnlab/error.h"
#include "cnnlab/run/run.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// Class folders whose names are markup: the report must show them as text.
constexpr const char* kAcross = "<img src=x onerror=alert(1)>";
constexpr const char* kDown = "down & \"out\"";

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// One small run on striped pictures, trained once for every test of this file.
class ReportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const fs::path images = *dir_ / "stripes";
    testing::write_striped_folder(images, kAcross, kDown, 40);
    RunConfig config = parse_config(testing::striped_folder_config(images, 3), "stripes.toml");
    root_ = DataRoot{dir_->path(), "test"};
    trained_ = new RunResult(train_run(config, root_, *dir_ / "run"));
    ASSERT_EQ(trained_->status, FitStatus::kCompleted);
  }
  static void TearDownTestSuite() {
    delete trained_;
    delete dir_;
  }

  static RunAnalysis analyze(const AnalysisOptions& options = {}) {
    return analyze_run(*dir_ / "run", root_, options);
  }

  static TempDir* dir_;
  static DataRoot root_;
  static RunResult* trained_;
};
TempDir* ReportTest::dir_ = nullptr;
RunResult* ReportTest::trained_ = nullptr;
DataRoot ReportTest::root_;

// The report of a run just trained is made from the model in memory, which is the last
// checkpoint: the same analysis as one read back from the run directory.
TEST_F(ReportTest, AJustTrainedRunIsAnalysedFromTheModelInMemory) {
  const RunAnalysis from_memory = analyze_run(trained_->model, *dir_ / "run", root_);
  const RunAnalysis from_disk = analyze();
  EXPECT_EQ(from_memory.test_accuracy, from_disk.test_accuracy);
  EXPECT_EQ(from_memory.class_names, from_disk.class_names);
  ASSERT_EQ(from_memory.weights.size(), from_disk.weights.size());
  for (std::size_t i = 0; i < from_disk.weights.size(); ++i) {
    EXPECT_TRUE(torch::equal(from_memory.weights[i].values, from_disk.weights[i].values))
        << from_disk.weights[i].name;
  }
  // The model at hand is what is analysed, not the checkpoint.
  LoadedRun changed = load_run(*dir_ / "run", "last");
  {
    torch::NoGradGuard no_grad;
    for (auto& p : changed.network->parameters()) p.zero_();
  }
  const RunAnalysis zeroed = analyze_run(changed, *dir_ / "run", root_);
  for (const auto& layer : zeroed.weights) EXPECT_EQ(layer.values.abs().max().item<double>(), 0);
  EXPECT_GT(from_disk.weights.front().values.abs().max().item<double>(), 0);
}

TEST_F(ReportTest, AnalysisAccountsForEveryTestImage) {
  const RunAnalysis run = analyze(AnalysisOptions().gallery_size(4).saliency_count(2));
  EXPECT_EQ(run.test_count, 10);  // a quarter of 40
  EXPECT_EQ(run.class_names, (std::vector<std::string>{kAcross, kDown}));
  EXPECT_EQ(run.confusion.sum().item<int64_t>(), run.test_count);
  const int64_t correct = run.confusion.diagonal().sum().item<int64_t>();
  EXPECT_DOUBLE_EQ(run.test_accuracy, static_cast<double>(correct) / run.test_count);
  EXPECT_EQ(static_cast<int64_t>(run.right.size()), std::min<int64_t>(4, correct));
  EXPECT_EQ(static_cast<int64_t>(run.wrong.size()), std::min<int64_t>(4, run.test_count - correct));
  EXPECT_EQ(run.right_pngs.size(), run.right.size());
  EXPECT_EQ(run.saliency.size(), std::min<std::size_t>(2, run.wrong.size()));
  EXPECT_TRUE(run.metrics.is_object());
  EXPECT_EQ(run.history.epochs.size(), 3u);
  EXPECT_EQ(run.epoch_weight_histograms.size(), 3u);  // kept at every epoch end
  EXPECT_EQ(run.first_layer_name, "Conv1");
  EXPECT_EQ(run.first_layer_filters.size(), 8u);
  // Default feature maps: the first two test images, through the one conv layer (8 × 10 × 10).
  ASSERT_EQ(run.feature_maps.size(), 2u);
  ASSERT_EQ(run.feature_maps[0].layers.size(), 1u);
  EXPECT_EQ(run.feature_maps[0].layers[0].shape, (std::vector<int64_t>{8, 10, 10}));
  EXPECT_EQ(run.feature_maps[0].layers[0].channel_pngs.size(), 8u);
  EXPECT_EQ(run.feature_maps[0].layers[0].silent.size(), 8u);
  EXPECT_EQ(run.feature_maps[0].png.substr(1, 3), "PNG");
}

TEST_F(ReportTest, MistakesShowGradCamOfThePredictedAndTheTrueClass) {
  // The striped run makes no mistake, so it is analysed on a copy of its images whose class
  // folders are swapped: there, every test image is one.
  TempDir copy;
  fs::create_directories(copy / "stripes");
  fs::copy(*dir_ / "stripes" / kAcross, copy / "stripes" / kDown, fs::copy_options::recursive);
  fs::copy(*dir_ / "stripes" / kDown, copy / "stripes" / kAcross, fs::copy_options::recursive);
  fs::copy(*dir_ / "run", copy / "run", fs::copy_options::recursive);
  std::string config = read_all(copy / "run" / "config.toml");
  const std::string images = (*dir_ / "stripes").string();
  ASSERT_NE(config.find(images), std::string::npos) << config;
  config.replace(config.find(images), images.size(), (copy / "stripes").string());
  testing::write_text(copy / "run" / "config.toml", config);
  const RunAnalysis run = analyze_run(copy / "run", root_, AnalysisOptions().saliency_count(3));
  EXPECT_EQ(run.grad_cam_layer, "Conv1");  // the last (and only) conv layer
  ASSERT_EQ(run.saliency.size(), 3u);
  for (const auto& example : run.saliency) {
    EXPECT_EQ(example.grad_cam_predicted_png.substr(1, 3), "PNG");
    EXPECT_EQ(example.grad_cam_true_png.substr(1, 3), "PNG");
    EXPECT_NE(example.grad_cam_predicted_png, example.grad_cam_true_png);
  }
  const std::string page = render_report({run});
  std::size_t pictures = 0;
  for (auto at = page.find("alt=\"Grad-CAM\""); at != std::string::npos;
       at = page.find("alt=\"Grad-CAM\"", at + 1)) {
    ++pictures;
  }
  EXPECT_EQ(pictures, 2 * run.saliency.size());
  EXPECT_EQ(page.find(kAcross), std::string::npos) << "a class name reached the page as markup";
  try {
    analyze(AnalysisOptions().grad_cam_layer("Output"));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(
        e.what(),
        "--grad-cam-layer: layer 'Output' has no feature maps; expected one of Conv1, Pool1");
  }
}

TEST_F(ReportTest, ImagesArePickedByNumberOrClassName) {
  const RunAnalysis run = analyze(AnalysisOptions().images({"3", kDown}));
  ASSERT_EQ(run.feature_maps.size(), 2u);
  EXPECT_EQ(run.feature_maps[0].index, 3);
  EXPECT_EQ(run.feature_maps[1].true_class, 1);
  try {
    analyze(AnalysisOptions().images({"frog"}));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'frog' is neither a test image number nor a class name"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(analyze(AnalysisOptions().images({"10"})), ConfigError);  // 10 images: 0 … 9
}

TEST_F(ReportTest, RunsTableTellsWhereEarlyStoppingEndedTheRun) {
  RunAnalysis run = analyze();
  EXPECT_EQ(render_report({run}).find("stopped early"), std::string::npos);
  run.metrics["early_stopping"] = {{"monitor", "val_loss"},
                                   {"best_epoch", 2},
                                   {"best_value", 0.25},
                                   {"stopped_epoch", 3},
                                   {"restored_best_weights", true}};
  EXPECT_NE(render_report({run}).find(">3 · stopped early · best 2 (val_loss), weights "
                                      "restored</td>"),
            std::string::npos);
}

TEST_F(ReportTest, PageEscapesUserTextAndFetchesNothing) {
  const RunAnalysis run = analyze();
  const std::string page = render_report({run});
  EXPECT_EQ(page.find(kAcross), std::string::npos) << "a class name reached the page as markup";
  EXPECT_NE(page.find("&lt;img src=x onerror=alert(1)&gt;"), std::string::npos);
  EXPECT_NE(page.find("down &amp; &quot;out&quot;"), std::string::npos);
  EXPECT_NE(page.find("Content-Security-Policy"), std::string::npos);
  EXPECT_EQ(page.find("<script src"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
  // The libraries are inside, and every chart placeholder has its spec.
  EXPECT_NE(page.find("vegaEmbed"), std::string::npos);
  for (const char* id : {"epochs", "learning_curve", "weights", "weights_per_epoch",
                         "per_class_accuracy", "confusion_1"}) {
    EXPECT_NE(page.find(std::string("data-chart=\"") + id + "\""), std::string::npos) << id;
    EXPECT_NE(page.find(std::string("\"") + id + "\":{"), std::string::npos) << id;
  }
}

TEST_F(ReportTest, ComparedRunsWithOneNameAreToldApartByDirectory) {
  const RunAnalysis run = analyze();
  RunAnalysis copy = run;
  copy.run_dir = dir_->path() / "again";
  const std::string page = render_report({run, copy});
  EXPECT_NE(page.find("<a href=\"#run-1\">run</a>"), std::string::npos);
  EXPECT_NE(page.find("<a href=\"#run-2\">again</a>"), std::string::npos);
}

TEST_F(ReportTest, WritesThePageAndTheDataBehindEveryChart) {
  const RunAnalysis run = analyze();
  TempDir out;
  const fs::path data = write_report({run}, out / "study.html");
  EXPECT_EQ(data, out / "study_data");
  EXPECT_NE(read_all(out / "study.html").find("</html>"), std::string::npos);
  for (const char* name : {"epochs.json", "learning_curve.json", "weights.json",
                           "weights_per_epoch.json", "per_class_accuracy.json", "confusion_1.json",
                           "confusion_1.csv", "most_confident_mistakes_1.csv", "runs.json"}) {
    EXPECT_TRUE(fs::is_regular_file(data / name)) << name;
  }
  const auto epochs = nlohmann::json::parse(read_all(data / "epochs.json"));
  EXPECT_EQ(epochs.size(), 3u * 4u);  // 3 epochs × training/validation × accuracy/loss
  const std::string confusion = read_all(data / "confusion_1.csv");
  EXPECT_EQ(confusion.substr(0, confusion.find('\n')),
            "true\\predicted,<img src=x onerror=alert(1)>,\"down & \"\"out\"\"\"");
  EXPECT_THROW(write_report({}, out / "empty.html"), ConfigError);
  EXPECT_FALSE(fs::exists(out / "empty.html"));
}

}  // namespace
}  // namespace cnnlab
