#include "cnnlab/analysis/saliency.h"

#include <gtest/gtest.h>

#include "cnnlab/config/run_config.h"

namespace cnnlab {
namespace {

// For a linear model the gradient of a class's score is that class's weight row, so the saliency
// map is known exactly: |w| (largest over channels), scaled to a peak of 1.
TEST(SaliencyTest, LinearModelLooksWhereItsWeightsAre) {
  ModelSpec spec = parse_config(R"(
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
)",
                                "m.toml")
                       .model;
  spec.input = {2, 3, 4};
  spec.num_classes = 5;
  Network network(spec);
  network->train();
  torch::Tensor weight;
  for (const auto& p : network->named_parameters()) {
    if (p.key().find("weight") != std::string::npos) weight = p.value().detach();
  }
  ASSERT_TRUE(weight.defined());
  const auto map = saliency_map(network, torch::rand({2, 3, 4}), 3);
  ASSERT_EQ(map.sizes(), (std::vector<int64_t>{3, 4}));
  auto expected = std::get<0>(weight[3].abs().view({2, 3, 4}).max(0));
  expected = expected / expected.max();
  EXPECT_TRUE(torch::allclose(map, expected, 1e-5, 1e-6)) << map << expected;
  EXPECT_FLOAT_EQ(map.max().item<float>(), 1.0f);
  EXPECT_TRUE(network->is_training());  // left in the mode it was in
  EXPECT_THROW(saliency_map(network, torch::rand({2, 3, 4}), 5), c10::Error);
  // A linear model's gradient is the same everywhere, so SmoothGrad's noise changes nothing.
  const auto smooth =
      saliency_map(network, torch::rand({2, 3, 4}), 3, SaliencyOptions().samples(8).noise(0.5));
  EXPECT_TRUE(torch::allclose(smooth, expected, 1e-5, 1e-6)) << smooth << expected;
}

}  // namespace
}  // namespace cnnlab
