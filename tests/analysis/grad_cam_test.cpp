#include "cnnlab/analysis/grad_cam.h"

#include <gtest/gtest.h>

#include "cnnlab/analysis/feature_maps.h"
#include "cnnlab/config/run_config.h"
#include "cnnlab/error.h"

namespace cnnlab {
namespace {

ModelSpec model(const std::string& layers, std::array<int64_t, 3> input, int64_t classes) {
  ModelSpec spec = parse_config(layers, "m.toml").model;
  spec.input = input;
  spec.num_classes = classes;
  return spec;
}

constexpr const char* kConvPoolConv = R"(
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
activation = "relu"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
)";

// Grad-CAM as the paper defines it, given the weight of each map: ReLU(Σₖ αₖ·Aₖ), scaled to a
// peak of 1. alpha: [K]; maps: [K, H, W].
torch::Tensor weighted_maps(const torch::Tensor& alpha, const torch::Tensor& maps) {
  auto sum = torch::relu((alpha.view({-1, 1, 1}) * maps).sum(0));
  return sum.max().item<float>() > 0 ? sum / sum.max() : sum;
}

// With a dense output right after the maps, a class's score is Σ W·A + b, so its gradient with
// respect to the maps is that class's weight row: Grad-CAM weighs map k by the mean of W's part
// for k. "same" padding keeps the maps at the image's size, so nothing is resampled.
TEST(GradCamTest, WeighsEachMapByTheMeanGradientOfTheClassScore) {
  Network network(model(R"(
[[model.layers]]
type = "conv2d"
filters = 3
kernel = 3
padding = "same"
activation = "relu"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
)",
                        {2, 5, 6}, 4));
  network->train();
  const auto weight = network->named_parameters()["Output.weight"].detach();
  torch::manual_seed(3);
  const auto image = torch::randn({2, 5, 6});
  const auto maps = conv_feature_maps(network, image)[0].maps;  // [3, 5, 6]
  for (int64_t target = 0; target < 4; ++target) {
    const auto expected = weighted_maps(weight[target].view({3, 5, 6}).mean({1, 2}), maps);
    const auto cam = grad_cam(network, image, target, 0);
    ASSERT_EQ(cam.sizes(), (std::vector<int64_t>{5, 6}));
    EXPECT_TRUE(torch::allclose(cam, expected, 1e-4, 1e-5)) << target << cam << expected;
  }
  EXPECT_TRUE(network->is_training());  // left in the mode it was in
  EXPECT_THROW(grad_cam(network, image, 4, 0), c10::Error);
  EXPECT_THROW(grad_cam(network, image, 0, 1), c10::Error);  // flatten: no feature maps
}

// After global average pooling, a class's score is Σₖ Wₖ·mean(Aₖ) + b: Grad-CAM weighs each
// map by its weight in the output layer, which is the class activation map (CAM) of Zhou et al.
// (2016) that Grad-CAM generalises.
TEST(GradCamTest, IsTheClassActivationMapAfterGlobalAveragePooling) {
  Network network(model(R"(
[[model.layers]]
type = "conv2d"
filters = 6
kernel = 3
padding = "same"
activation = "relu"
[[model.layers]]
type = "global_avgpool"
[[model.layers]]
type = "dense"
)",
                        {3, 8, 8}, 5));
  torch::manual_seed(7);
  const auto image = torch::randn({3, 8, 8});
  const auto maps = conv_feature_maps(network, image)[0].maps;  // [6, 8, 8]
  const auto weight = network->named_parameters()["Output.weight"].detach();
  int64_t drawn = 0;
  for (int64_t target = 0; target < 5; ++target) {
    const auto expected = weighted_maps(weight[target], maps);
    drawn += expected.max().item<float>() > 0;
    EXPECT_TRUE(torch::allclose(grad_cam(network, image, target, 0), expected, 1e-4, 1e-5))
        << target;
  }
  EXPECT_GT(drawn, 0);
}

TEST(GradCamTest, CoarseMapsAreUpsampledToTheImage) {
  Network network(model(kConvPoolConv, {1, 12, 12}, 3));
  network->eval();
  torch::manual_seed(5);
  const auto image = torch::rand({1, 12, 12});
  for (int64_t target = 0; target < 3; ++target) {
    const auto cam = grad_cam(network, image, target, 2);  // Conv2: 6 × 3 × 3
    ASSERT_EQ(cam.sizes(), (std::vector<int64_t>{12, 12}));
    EXPECT_GE(cam.min().item<float>(), 0.0f);
    const float peak = cam.max().item<float>();
    EXPECT_TRUE(peak == 0.0f || std::abs(peak - 1.0f) < 1e-6f) << peak;
  }
  EXPECT_FALSE(network->is_training());
}

TEST(GradCamTest, LayerIsTheLastConvOrItsBatchNormUnlessNamed) {
  const ModelSpec spec = model(kConvPoolConv, {1, 12, 12}, 3);
  EXPECT_EQ(grad_cam_layer(spec, "", "--grad-cam-layer"), 2u);
  EXPECT_EQ(grad_cam_layer(spec, "Conv1", "--grad-cam-layer"), 0u);
  EXPECT_EQ(grad_cam_layer(spec, "Pool1", "--grad-cam-layer"), 1u);
  try {
    grad_cam_layer(spec, "Output", "--grad-cam-layer");
    FAIL() << "a dense layer has no feature maps";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "--grad-cam-layer: layer 'Output' has no feature maps; expected one of Conv1, "
                 "Pool1, Conv2");
  }
  try {
    grad_cam_layer(spec, "conv2", "--grad-cam-layer");
    FAIL() << "names are case-sensitive";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "--grad-cam-layer: no layer named 'conv2'; expected one of Conv1, Pool1, Conv2");
  }
  const ModelSpec normalised = model(R"(
[[model.layers]]
type = "conv2d"
filters = 4
activation = "relu"
[[model.layers]]
type = "batchnorm"
[[model.layers]]
type = "dropout"
rate = 0.2
[[model.layers]]
type = "maxpool"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
)",
                                     {1, 8, 8}, 2);
  EXPECT_EQ(grad_cam_layer(normalised, "", "--grad-cam-layer"), 2u);  // after batch norm
  const ModelSpec dense = model(R"(
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
)",
                                {1, 4, 4}, 2);
  try {
    grad_cam_layer(dense, "", "--grad-cam-layer");
    FAIL() << "no conv layer";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "--grad-cam-layer: Grad-CAM needs a conv layer, and the model has none");
  }
}

// What Grad-CAM is for: a model that learned to spot a bright square anywhere in noise is asked
// where the square is, and its map must be bright there and dark elsewhere. (Asked for the
// other class, "no square", the same maps are dark around the square: the test tells them apart.)
TEST(GradCamTest, FindsTheObjectAModelLearnedToSpot) {
  torch::manual_seed(11);
  constexpr int64_t kSize = 16, kImages = 512;
  const auto make = [&](int64_t n) {
    auto images = torch::rand({n, 1, kSize, kSize}) * 0.3;
    const auto labels = torch::randint(0, 2, {n}, torch::kLong);
    std::vector<std::array<int64_t, 2>> centres;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t y = torch::randint(2, kSize - 2, {1}).item<int64_t>();
      const int64_t x = torch::randint(2, kSize - 2, {1}).item<int64_t>();
      centres.push_back({y, x});
      if (labels[i].item<int64_t>() == 1)
        images[i][0].slice(0, y - 1, y + 2).slice(1, x - 1, x + 2) = 1.0;
    }
    return std::tuple{images, labels, centres};
  };
  Network network(model(R"(
[[model.layers]]
type = "conv2d"
filters = 8
kernel = 3
padding = "same"
activation = "relu"
[[model.layers]]
type = "maxpool"
[[model.layers]]
type = "conv2d"
filters = 8
kernel = 3
padding = "same"
activation = "relu"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
)",
                        {1, kSize, kSize}, 2));
  const auto [images, labels, centres] = make(kImages);
  torch::optim::Adam adam(network->parameters(), torch::optim::AdamOptions(0.01));
  network->train();
  for (int epoch = 0; epoch < 8; ++epoch) {
    for (int64_t start = 0; start < kImages; start += 32) {
      adam.zero_grad();
      const auto loss = torch::nn::functional::cross_entropy(
          network->forward(images.slice(0, start, start + 32)), labels.slice(0, start, start + 32));
      loss.backward();
      adam.step();
    }
  }
  const auto [test_images, test_labels, test_centres] = make(64);
  network->eval();
  int64_t squares = 0, found = 0;
  for (int64_t i = 0; i < 64; ++i) {
    if (test_labels[i].item<int64_t>() != 1) continue;
    ++squares;
    const auto cam = grad_cam(network, test_images[i], 1, 2);
    // Brighter on and around the square than elsewhere: Grad-CAM sees at Conv2's resolution,
    // half the image's, so "around" is a pixel either side.
    const auto [y, x] = test_centres[i];
    const auto near = torch::zeros({kSize, kSize}, torch::kBool);
    near.slice(0, y - 2, y + 3).slice(1, x - 2, x + 3).fill_(true);
    const double inside = cam.masked_select(near).mean().item<double>();
    const double outside = cam.masked_select(near.logical_not()).mean().item<double>();
    if (inside > 3 * outside) ++found;
  }
  ASSERT_GT(squares, 20);
  EXPECT_GE(found, squares * 9 / 10) << found << " of " << squares;
  // The model did learn its task, or the maps above would prove nothing.
  EXPECT_GE(network->forward(test_images).argmax(1).eq(test_labels).sum().item<int64_t>(), 60);
}

}  // namespace
}  // namespace cnnlab
