#include "cnnlab/data/dataset.h"

#include <gtest/gtest.h>

#include "cnnlab/error.h"

namespace cnnlab {
namespace {

Dataset numbered(int64_t n) {
  return Dataset{torch::arange(n, torch::kInt64).to(torch::kUInt8).view({n, 1, 1, 1}),
                 torch::arange(n, torch::kInt64) % 2,
                 {"even", "odd"}};
}

TEST(ValidationSplitTest, TakesTheLastFractionInOrder) {
  const auto [train, validation] = validation_split(numbered(60), 0.1);
  EXPECT_EQ(train.size(), 54);
  ASSERT_EQ(validation.size(), 6);
  EXPECT_EQ(train.images[53].item<int>(), 53);
  EXPECT_EQ(validation.images[0].item<int>(), 54);
  EXPECT_EQ(validation.images[5].item<int>(), 59);
}

TEST(ValidationSplitTest, MatchesKerasOnMnistSizes) {
  // Keras: split_at = int(60000 * (1 - 0.1)) = 54000, so 844 steps of 64 per epoch.
  const auto [train, validation] = validation_split(numbered(60000), 0.1);
  EXPECT_EQ(train.size(), 54000);
  EXPECT_EQ(validation.size(), 6000);
  EXPECT_EQ((train.size() + 63) / 64, 844);
}

TEST(ValidationSplitTest, ZeroKeepsEverything) {
  const auto [train, validation] = validation_split(numbered(10), 0.0);
  EXPECT_EQ(train.size(), 10);
  EXPECT_EQ(validation.size(), 0);
}

TEST(ValidationSplitTest, RejectsFractionOutOfRange) {
  try {
    validation_split(numbered(10), 1.5);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("data.validation_split: expected a fraction in [0, 1)"),
              std::string::npos);
  }
}

TEST(NetworkInputTest, ScalesToUnitRange) {
  const auto images = torch::tensor({0, 51, 255}, torch::kUInt8).view({1, 1, 1, 3});
  const auto x = to_network_input(images, {});
  EXPECT_EQ(x.scalar_type(), torch::kFloat32);
  EXPECT_FLOAT_EQ(x[0][0][0][1].item<float>(), 0.2f);
  EXPECT_FLOAT_EQ(x[0][0][0][2].item<float>(), 1.0f);
}

TEST(NetworkInputTest, NormalisesPerChannel) {
  const auto images = torch::full({1, 2, 1, 1}, 255, torch::kUInt8);
  const auto x = to_network_input(images, Normalization{{0.5, 0.0}, {0.25, 2.0}});
  EXPECT_FLOAT_EQ(x[0][0][0][0].item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(x[0][1][0][0].item<float>(), 0.5f);
}

TEST(ChannelStatisticsTest, MatchesDirectComputation) {
  torch::manual_seed(1);
  const auto images = torch::randint(0, 256, {50, 3, 4, 4}, torch::kInt64).to(torch::kUInt8);
  const Dataset data{images, torch::zeros({50}, torch::kInt64), {"a"}};
  const Normalization norm = channel_statistics(data);
  const auto x = images.to(torch::kFloat64) / 255.0;
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(norm.mean[c], x.select(1, c).mean().item<double>(), 1e-9);
    EXPECT_NEAR(norm.std[c], x.select(1, c).std(/*unbiased=*/false).item<double>(), 1e-9);
  }
}

}  // namespace
}  // namespace cnnlab
