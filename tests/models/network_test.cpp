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

}  // namespace
}  // namespace cnnlab
