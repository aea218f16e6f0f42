#include "cnnlab/run/run.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cnnlab/analysis/grad_cam.h"
#include "cnnlab/data/image_file.h"
#include "cnnlab/error.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

RunConfig mnist_slice() {
  return load_config_file(fs::path(CNNLAB_SOURCE_DIR) / "configs/mnist.toml",
                          {"data.train_limit=12000", "data.test_limit=2000", "train.epochs=3"});
}

// End to end on a slice of the real MNIST: only a working loader, model, loss, optimizer and
// evaluation reach 90% from 10,800 training images in three epochs (chance is 10%). Three epochs,
// because batch norm's running statistics (Keras' momentum 0.99) need a few hundred steps.
TEST(RunTest, TrainsMnistSliceEvaluatesAndPredicts) {
  const auto root = testing::real_data_root("mnist");
  if (root.empty()) GTEST_SKIP() << "CNNLAB_DATA does not hold mnist/";
  TempDir dir;
  const DataRoot data_root{root, "$CNNLAB_DATA"};
  const RunResult result = train_run(mnist_slice(), data_root, dir / "run");
  ASSERT_EQ(result.status, FitStatus::kCompleted);
  EXPECT_GT(result.test.accuracy, 0.90);
  EXPECT_EQ(result.test.count, 2000);

  std::ifstream metrics_file(dir / "run" / "metrics.json");
  const auto metrics = nlohmann::json::parse(metrics_file);
  EXPECT_DOUBLE_EQ(metrics["test_accuracy"].get<double>(), result.test.accuracy);
  // The command's wall time holds the training and the test.
  EXPECT_GT(metrics["test_seconds"].get<double>(), 0.0);
  EXPECT_GT(metrics["wall_seconds"].get<double>(),
            metrics["train_seconds"].get<double>() + metrics["test_seconds"].get<double>());
  for (const char* name : {"config.toml", "summary.txt", "steps.csv", "epochs.csv",
                           "checkpoints/last.pt", "checkpoints/best.pt"}) {
    EXPECT_TRUE(fs::exists(dir / "run" / name)) << name;
  }

  // The saved run evaluates to the same accuracy as the run reported.
  LoadedRun run = load_run(dir / "run", "last");
  const Dataset test = load_test_set(run.config.data, data_root);
  const Precision precision = run.config.train.precision();
  EXPECT_NEAR(evaluate(run.network, test, run.normalization, 500, precision).accuracy,
              result.test.accuracy, 1e-9);

  // predict on a PNG of a test image agrees with the network on the same pixels.
  write_png(dir / "digit.png", test.images[0]);
  const auto predictions = predict_files(run, {dir / "digit.png"}, 3, false);
  ASSERT_EQ(predictions.size(), 1u);
  ASSERT_EQ(predictions[0].top.size(), 3u);
  const auto probabilities =
      predict_probabilities(run.network, test.slice(0, 1), run.normalization, 1, precision);
  EXPECT_EQ(predictions[0].top[0].first, probabilities[0].argmax().item<int64_t>());
  EXPECT_NEAR(predictions[0].top[0].second, probabilities[0].max().item<double>(), 1e-5);
  EXPECT_GE(predictions[0].top[0].second, predictions[0].top[1].second);

  // Its Grad-CAM picture: the digit enlarged 8 times (224 pixels), a heat map over it.
  const std::size_t layer = grad_cam_layer(run.config.model, "", "--grad-cam-layer");
  EXPECT_EQ(run.config.model.layers[layer].name, "BatchNorm2");  // the normalised Conv2
  const auto picture =
      grad_cam_picture(run, dir / "digit.png", predictions[0].top[0].first, layer, false);
  EXPECT_EQ(picture.sizes(), (std::vector<int64_t>{3, 224, 224}));
  EXPECT_GT(picture.select(0, 0).to(torch::kInt32).sub(picture.select(0, 2)).max().item<int>(), 100)
      << "no heat over the digit";
}

TEST(RunTest, RefusesToOverwriteARun) {
  TempDir dir;
  testing::write_tiny_mnist(dir / "data" / "mnist", 50, 10);
  RunConfig config = load_config_file(fs::path(CNNLAB_SOURCE_DIR) / "configs/mnist.toml",
                                      {"train.epochs=1", "model.layers.Conv1.kernel=1",
                                       "model.layers.Conv2.kernel=1", "model.layers.Pool2.size=1"});
  const DataRoot root{dir / "data", "test"};
  ASSERT_EQ(train_run(config, root, dir / "run").status, FitStatus::kCompleted);
  try {
    train_run(config, root, dir / "run");
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("already holds a run"), std::string::npos);
  }
}

TEST(RunTest, FreshRunDirCountsUp) {
  TempDir dir;
  EXPECT_EQ(fresh_run_dir(dir.path(), "mnist"), dir / "mnist");
  fs::create_directory(dir / "mnist");
  fs::create_directory(dir / "mnist-2");
  EXPECT_EQ(fresh_run_dir(dir.path(), "mnist"), dir / "mnist-3");
}

}  // namespace
}  // namespace cnnlab
