#include "cnnlab/models/network.h"

#include <gtest/gtest.h>

#include "cnnlab/config/run_config.h"

namespace cnnlab {
namespace {

constexpr const char* kModel = R"(
[[model.layers]]
type = "conv2d"
filters = 8
kernel = 3
activation = "relu"
l2 = 0.01
[[model.layers]]
type = "maxpool"
[[model.layers]]
type = "conv2d"
filters = 6
kernel = [5, 3]
stride = 2
padding = "same"
activation = "relu"
[[model.layers]]
type = "batchnorm"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dropout"
rate = 0.3
[[model.layers]]
type = "dense"
units = 16
activation = "relu"
l2 = 0.5
[[model.layers]]
type = "dense"
activation = "softmax"
)";

ModelSpec spec() { return parse_config(kModel, "test.toml").model; }

TEST(NetworkTest, OutputShapesMatchInferredShapes) {
  Network net(spec());
  std::vector<torch::Tensor> activations;
  net->eval();
  const auto logits = net->forward(torch::rand({5, 1, 28, 28}), &activations);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{5, 10}));
  ASSERT_EQ(activations.size(), net->shapes().size());
  for (std::size_t i = 0; i < activations.size(); ++i) {
    std::vector<int64_t> expected{5};
    const auto& shape = net->shapes()[i].output;
    expected.insert(expected.end(), shape.begin(), shape.end());
    EXPECT_EQ(activations[i].sizes().vec(), expected) << "layer " << i;
  }
  // Same padding with stride 2 over 13x13: ceil(13/2) = 7.
  EXPECT_EQ(net->shapes()[2].output, (std::vector<int64_t>{6, 7, 7}));
}

// Keras' GlobalAveragePooling2D and GlobalMaxPooling2D: each feature map's mean or maximum.
TEST(NetworkTest, GlobalPoolingTakesTheMeanOrMaximumOfEachMap) {
  for (const std::string type : {"global_avgpool", "global_maxpool"}) {
    ModelSpec model = parse_config(R"(
[[model.layers]]
type = "conv2d"
filters = 5
kernel = 3
padding = "same"
activation = "relu"
[[model.layers]]
type = ")" + type + R"("
[[model.layers]]
type = "dense"
)",
                                   "global.toml")
                          .model;
    model.input = {3, 7, 9};
    model.num_classes = 4;
    Network net(model);
    net->eval();
    std::vector<torch::Tensor> activations;
    const auto logits = net->forward(torch::rand({2, 3, 7, 9}), &activations);
    EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 4}));
    ASSERT_EQ(activations[1].sizes(), (std::vector<int64_t>{2, 5})) << type;
    const auto& maps = activations[0];
    const auto expected = type == "global_avgpool" ? maps.mean({2, 3}) : maps.amax({2, 3});
    EXPECT_TRUE(torch::allclose(activations[1], expected)) << type;
    // The maps' values, not a constant: the five channels differ.
    EXPECT_GT(expected.std().item<float>(), 0.0f) << type;
  }
}

TEST(NetworkTest, ParameterCountsMatchInferredShapes) {
  Network net(spec());
  int64_t trainable = 0;
  for (const auto& p : net->parameters()) trainable += p.numel();
  int64_t expected = 0;
  for (const auto& shape : net->shapes()) expected += shape.trainable_params;
  EXPECT_EQ(trainable, expected);
  EXPECT_EQ(net->named_parameters().contains("Conv1.weight"), true);
  EXPECT_EQ(net->named_parameters().contains("Output.bias"), true);
}

TEST(NetworkTest, L2PenaltyIsLambdaTimesSumOfSquaredKernels) {
  Network net(spec());
  const auto params = net->named_parameters();
  const double expected = 0.01 * params["Conv1.weight"].pow(2).sum().item<double>() +
                          0.5 * params["Dense.weight"].pow(2).sum().item<double>();
  EXPECT_NEAR(net->l2_penalty().item<double>(), expected, 1e-5 * expected);
  // Biases are not regularised: changing one leaves the penalty as it was.
  torch::NoGradGuard no_grad;
  params["Conv1.bias"].fill_(3.0);
  EXPECT_NEAR(net->l2_penalty().item<double>(), expected, 1e-5 * expected);
}

TEST(NetworkTest, KerasInitialisation) {
  Network net(spec());
  const auto params = net->named_parameters();
  // Glorot uniform for the dense kernel: limit sqrt(6 / (fan_in + fan_out)).
  const double limit = std::sqrt(6.0 / (6 * 7 * 7 + 16));
  EXPECT_LE(params["Dense.weight"].abs().max().item<double>(), limit);
  EXPECT_GT(params["Dense.weight"].abs().max().item<double>(), 0.9 * limit);
  EXPECT_EQ(params["Dense.bias"].abs().sum().item<double>(), 0.0);
}

TEST(NetworkTest, PredictProbaRowsSumToOne) {
  Network net(spec());
  net->eval();
  const auto p = net->predict_proba(torch::rand({3, 1, 28, 28}));
  EXPECT_TRUE(torch::allclose(p.sum(1), torch::ones({3})));
  EXPECT_GE(p.min().item<float>(), 0.0f);
}

ModelSpec recipe_spec(const std::string& layers, std::array<int64_t, 3> input) {
  ModelSpec s = parse_config(layers, "recipe.toml").model;
  s.input = input;
  s.num_classes = 2;
  return s;
}

TEST(NetworkTest, DiracKernelsPassTheirInputChannelThrough) {
  Network net(recipe_spec(R"(
[[model.layers]]
type = "conv2d"
filters = 5
padding = "same"
use_bias = false
kernel_initializer = "dirac"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
)",
                          {3, 6, 6}));
  net->eval();
  std::vector<torch::Tensor> activations;
  const auto x = torch::randn({2, 3, 6, 6});
  net->forward(x, &activations);
  // The first three filters are the identity; the other two start as PyTorch's default.
  EXPECT_TRUE(torch::allclose(activations[0].slice(1, 0, 3), x, 0, 1e-6));
  const auto rest = net->named_parameters()["Conv1.weight"].slice(0, 3, 5);
  EXPECT_GT(rest.abs().max().item<double>(), 0);
  EXPECT_LE(rest.abs().max().item<double>(), 1.0 / std::sqrt(27.0));
}

TEST(NetworkTest, WhiteningKernelDecorrelatesPatches) {
  // Three channels mixed so their values correlate strongly, at a scale far above epsilon.
  torch::manual_seed(0);
  const auto mix = torch::tensor({{1.0, 0.0, 0.0}, {0.9, 0.4, 0.0}, {0.5, 0.5, 0.3}});
  const auto noise = torch::randn({400, 8, 8, 3});
  const auto images = noise.matmul(mix.t()).permute({0, 3, 1, 2}).contiguous() * 10.0;
  const auto kernel = whitening_kernel(images, {2, 2}, 24);
  ASSERT_EQ(kernel.sizes(), (std::vector<int64_t>{24, 3, 2, 2}));
  // The second half is the first negated.
  EXPECT_TRUE(torch::equal(kernel.slice(0, 12, 24), -kernel.slice(0, 0, 12)));
  const auto out = torch::conv2d(images, kernel.slice(0, 0, 12));
  const auto flat = out.permute({0, 2, 3, 1}).reshape({-1, 12}).to(torch::kFloat64);
  const auto covariance = flat.t().matmul(flat) / static_cast<double>(flat.size(0));
  EXPECT_TRUE(torch::allclose(covariance, torch::eye(12, torch::kFloat64), 0, 0.02)) << covariance;
}

TEST(NetworkTest, DataInitialisationWhitensTheFirstLayer) {
  Network net(recipe_spec(R"(
[[model.layers]]
type = "conv2d"
filters = 4
kernel = 2
kernel_initializer = "whitening"
kernel_trainable = false
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
)",
                          {1, 5, 5}));
  EXPECT_TRUE(net->needs_data_initialization());
  const auto images = torch::randn({50, 1, 5, 5}) * 3.0;
  net->initialize_from_data(images);
  EXPECT_TRUE(torch::allclose(net->named_parameters()["Conv1.weight"],
                              whitening_kernel(images, {2, 2}, 4), 1e-5, 1e-6));
  EXPECT_FALSE(net->named_parameters()["Conv1.weight"].requires_grad());
  EXPECT_TRUE(net->named_parameters()["Conv1.bias"].requires_grad());
  EXPECT_FALSE(Network(spec())->needs_data_initialization());
}

TEST(NetworkTest, BatchNormTakesKerasMomentumEpsilonAndScale) {
  Network net(recipe_spec(R"(
[[model.layers]]
type = "batchnorm"
momentum = 0.6
epsilon = 1e-12
scale = false
activation = "relu"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
)",
                          {2, 3, 3}));
  const auto params = net->named_parameters();
  EXPECT_FALSE(params["BatchNorm1.weight"].requires_grad());
  EXPECT_TRUE(params["BatchNorm1.bias"].requires_grad());
  // Keras counts β and the two statistics; only β trains.
  EXPECT_EQ(net->shapes()[0].params, 6);
  EXPECT_EQ(net->shapes()[0].trainable_params, 2);
  net->train();
  const auto x = torch::randn({8, 2, 3, 3}) + 5.0;
  std::vector<torch::Tensor> activations;
  net->forward(x, &activations);
  // Keras' momentum 0.6 keeps 60% of the running mean (0) and adds 40% of the batch's.
  const auto mean = x.mean({0, 2, 3});
  EXPECT_TRUE(
      torch::allclose(net->named_buffers()["BatchNorm1.running_mean"], 0.4 * mean, 1e-5, 1e-5));
  // Normalised with ε = 1e-12, then the activation.
  const auto var = x.var({0, 2, 3}, /*unbiased=*/false);
  const auto expected =
      torch::relu((x - mean.view({1, 2, 1, 1})) / torch::sqrt(var.view({1, 2, 1, 1}) + 1e-12));
  EXPECT_TRUE(torch::allclose(activations[0], expected, 1e-4, 1e-5));
}

TEST(NetworkTest, RescalingAndFrozenLayers) {
  Network net(recipe_spec(R"(
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "rescaling"
scale = 0.5
offset = -1.0
[[model.layers]]
type = "dense"
name = "Hidden"
units = 3
trainable = false
[[model.layers]]
type = "dense"
trainable_epochs = 2
lr_multiplier = 4.0
)",
                          {1, 2, 2}));
  net->eval();
  std::vector<torch::Tensor> activations;
  const auto x = torch::randn({3, 1, 2, 2});
  net->forward(x, &activations);
  EXPECT_TRUE(torch::allclose(activations[1], x.flatten(1) * 0.5 - 1.0));
  const auto params = net->named_parameters();
  EXPECT_FALSE(params["Hidden.weight"].requires_grad());
  EXPECT_FALSE(params["Hidden.bias"].requires_grad());
  EXPECT_EQ(net->shapes()[2].trainable_params, 0);
  // Grouped by learning-rate multiplier, in order.
  const auto groups = net->parameters_by_lr_multiplier();
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_DOUBLE_EQ(groups[0].first, 1.0);
  EXPECT_DOUBLE_EQ(groups[1].first, 4.0);
  EXPECT_EQ(groups[1].second.size(), 2u);
  // The output layer trains in epochs 0 and 1, and freezes as epoch 2 begins.
  EXPECT_FALSE(net->freeze_finished_layers(1));
  EXPECT_TRUE(params["Output.weight"].requires_grad());
  EXPECT_TRUE(net->freeze_finished_layers(2));
  EXPECT_FALSE(params["Output.weight"].requires_grad());
  EXPECT_FALSE(net->freeze_finished_layers(3));
}

}  // namespace
}  // namespace cnnlab
