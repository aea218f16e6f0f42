#include "cnnlab/analysis/feature_maps.h"

#include <gtest/gtest.h>

#include "cnnlab/config/run_config.h"

namespace cnnlab {
namespace {

TEST(FeatureMapsTest, OneMapPerConvLayerWithItsShape) {
  ModelSpec spec = parse_config(R"(
[[model.layers]]
type = "conv2d"
filters = 4
kernel = 3
activation = "relu"
[[model.layers]]
type = "maxpool"
[[model.layers]]
type = "conv2d"
filters = 6
kernel = 3
padding = "same"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
)",
                                "m.toml")
                       .model;
  spec.input = {1, 12, 12};
  spec.num_classes = 3;
  Network network(spec);
  network->train();
  const auto maps = conv_feature_maps(network, torch::rand({1, 12, 12}));
  ASSERT_EQ(maps.size(), 2u);
  EXPECT_EQ(maps[0].layer, "Conv1");
  EXPECT_EQ(maps[0].maps.sizes(), (std::vector<int64_t>{4, 10, 10}));
  EXPECT_GE(maps[0].maps.min().item<float>(), 0.0f);  // after the relu
  EXPECT_EQ(maps[1].layer, "Conv2");
  EXPECT_EQ(maps[1].maps.sizes(), (std::vector<int64_t>{6, 5, 5}));
  EXPECT_TRUE(network->is_training());  // the mode is restored
}

}  // namespace
}  // namespace cnnlab
