#include "cnnlab/training/precision.h"

#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cnnlab/config/run_config.h"
#include "cnnlab/error.h"
#include "cnnlab/models/summary.h"
#include "cnnlab/training/evaluate.h"
#include "cnnlab/training/trainer.h"

namespace cnnlab {
namespace {

TEST(PrecisionTest, ParsesNamesAndRejectsOthersNamingTheOption) {
  EXPECT_EQ(parse_precision("bf16", "x"), Precision::kBFloat16);
  EXPECT_EQ(parse_precision("fp32", "x"), Precision::kFloat32);
  EXPECT_EQ(parse_precision("auto", "x"), Precision::kAuto);
  try {
    parse_precision("fp16", "train.precision");
    FAIL() << "fp16 accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("train.precision"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'fp16'"), std::string::npos) << e.what();
  }
}

TEST(PrecisionTest, AutoFollowsTheProcessor) {
  EXPECT_EQ(resolve_precision(Precision::kAuto),
            cpu_has_native_bf16() ? Precision::kBFloat16 : Precision::kFloat32);
  EXPECT_EQ(resolve_precision(Precision::kFloat32), Precision::kFloat32);
}

TEST(PrecisionTest, GuardComputesInBfloat16AndRestoresTheState) {
  const auto a = torch::randn({8, 16});
  const auto b = torch::randn({16, 4});
  {
    PrecisionGuard guard(Precision::kBFloat16);
    EXPECT_TRUE(at::autocast::is_cpu_enabled());
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    {
      PrecisionGuard fp32(Precision::kFloat32);  // does nothing: still bf16 inside
      EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    }
  }
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
  EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat32);
}

ModelSpec small_model() {
  const RunConfig config = parse_config(R"(
[[model.layers]]
type = "conv2d"
filters = 4
kernel = 3
activation = "relu"
[[model.layers]]
type = "batchnorm"
[[model.layers]]
type = "maxpool"
size = 2
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
activation = "softmax"
)",
                                        "model");
  ModelSpec spec = config.model;
  spec.input = {1, 8, 8};
  spec.num_classes = 3;
  return spec;
}

TEST(PrecisionTest, ConfigRoundTripsPrecisionAndPrefetch) {
  const std::string model =
      "[[model.layers]]\ntype = \"flatten\"\n[[model.layers]]\ntype = \"dense\"\n";
  const RunConfig config =
      parse_config(model + "[train]\nprecision = \"bf16\"\nprefetch = true\n", "t");
  EXPECT_EQ(config.train.precision(), Precision::kBFloat16);
  EXPECT_TRUE(config.train.prefetch());
  const RunConfig again = parse_config(to_toml(config), "again");
  EXPECT_EQ(again.train.precision(), Precision::kBFloat16);
  EXPECT_TRUE(again.train.prefetch());
  EXPECT_EQ(parse_config(model, "t").train.precision(), Precision::kAuto);
  EXPECT_THROW(parse_config(model + "[train]\nprecision = \"half\"\n", "t"), ConfigError);
}

TEST(PrecisionTest, CountsConvolutionAndDenseFlops) {
  // conv: 6x6 outputs x 4 filters x 9 taps x 1 channel; dense: 3x3x4 = 36 inputs x 3 classes.
  EXPECT_EQ(forward_flops(small_model()), 2 * (6 * 6 * 4 * 9) + 2 * (36 * 3));
}

TEST(PrecisionTest, Bfloat16TrainingKeepsFloat32WeightsAndLearns) {
  torch::manual_seed(0);
  Dataset data;
  // Class = which third of the image is bright: learnable in a few steps.
  data.images = torch::zeros({96, 1, 8, 8}, torch::kUInt8);
  data.labels = torch::arange(96, torch::kInt64) % 3;
  for (int64_t i = 0; i < 96; ++i) {
    const int64_t c = data.labels[i].item<int64_t>();
    data.images[i].slice(1, c * 2, c * 2 + 3).fill_(255);
  }
  data.class_names = {"a", "b", "c"};
  TrainerOptions options;
  options.epochs(6).batch_size(16).precision(Precision::kBFloat16).prefetch(true);
  options.optimizer(OptimizerOptions().lr(0.01));
  Trainer trainer(Network(small_model()), options);
  ASSERT_EQ(trainer.fit(data, Dataset{}, Normalization{}), FitStatus::kCompleted);
  for (const auto& parameter : trainer.network()->parameters()) {
    EXPECT_EQ(parameter.scalar_type(), torch::kFloat32);
  }
  const auto& steps = trainer.history().steps;
  ASSERT_FALSE(steps.empty());
  EXPECT_LT(steps.back().loss, steps.front().loss * 0.5);
  EXPECT_GT(evaluate(trainer.network(), data, {}, 32, Precision::kBFloat16).accuracy, 0.9);
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
}

TEST(PrecisionTest, PrefetchedBatchesTrainTheSameWeights) {
  Dataset data;
  torch::manual_seed(3);
  data.images = torch::randint(0, 256, {64, 1, 8, 8}, torch::kUInt8);
  data.labels = torch::randint(0, 3, {64}, torch::kInt64);
  data.class_names = {"a", "b", "c"};
  AugmentOptions augment;
  augment.rotation_range(15).horizontal_flip(true);
  std::vector<torch::Tensor> weights;
  for (bool prefetch : {false, true}) {
    TrainerOptions options;
    options.epochs(2)
        .batch_size(16)
        .precision(Precision::kFloat32)
        .prefetch(prefetch)
        .augment(augment);
    torch::manual_seed(0);
    Trainer trainer(Network(small_model()), options);
    trainer.fit(data, Dataset{}, Normalization{});
    weights.push_back(trainer.network()->parameters()[0].clone());
  }
  EXPECT_TRUE(torch::equal(weights[0], weights[1]));
}

}  // namespace
}  // namespace cnnlab
