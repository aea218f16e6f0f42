// cnnlab against values Keras itself computed (tests/golden/keras/golden.json, written by
// tests/golden/keras/make_golden.sh): the forward pass of a model with a channels-last Flatten,
// the loss with its L2 terms, Adam's steps with epsilon in Keras' place, model.summary()'s text
// and ImageDataGenerator's transforms.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#ifdef CNNLAB_HAVE_HDF5
#include <hdf5.h>
#endif

#include "cnnlab/config/run_config.h"
#include "cnnlab/data/augment.h"
#include "cnnlab/models/keras_export.h"
#include "cnnlab/models/network.h"
#include "cnnlab/models/summary.h"
#include "cnnlab/training/evaluate.h"
#include "cnnlab/training/trainer.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

constexpr double kTolerance = 1e-5;

bool is_kernel(const std::string& name) {
  const std::string suffix = ".weight";
  return name.size() > suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

const nlohmann::json& golden() {
  static const nlohmann::json values = [] {
    const std::string path = std::string(CNNLAB_SOURCE_DIR) + "/tests/golden/keras/golden.json";
    std::ifstream in(path);
    EXPECT_TRUE(in) << "cannot read " << path;
    return nlohmann::json::parse(in);
  }();
  return values;
}

torch::Tensor tensor_of(const nlohmann::json& value) {
  const auto shape = value["shape"].get<std::vector<int64_t>>();
  const auto values = value["values"].get<std::vector<double>>();
  return torch::tensor(values, torch::kFloat64).reshape(shape).to(torch::kFloat32);
}

// Keras' layouts to cnnlab's: a conv kernel HWIO → OIHW, a dense kernel (in, out) → (out, in).
torch::Tensor from_keras(const torch::Tensor& kernel) {
  return kernel.dim() == 4 ? kernel.permute({3, 2, 0, 1}).contiguous() : kernel.t().contiguous();
}

// The tiny model of make_golden.py, with its channels-last Flatten.
Network tiny_network(const nlohmann::json& weights) {
  const auto& tiny = golden()["tiny"];
  ModelSpec spec = parse_config(R"(
train.l2 = 0.01
[[model.layers]]
type = "conv2d"
filters = 3
kernel = 3
activation = "relu"
[[model.layers]]
type = "maxpool"
size = 2
[[model.layers]]
type = "flatten"
data_format = "channels_last"
[[model.layers]]
type = "dense"
units = 5
activation = "relu"
[[model.layers]]
type = "dense"
activation = "softmax"
)",
                                "tiny.toml")
                       .model;
  const auto hwc = tiny["input_hwc"].get<std::vector<int64_t>>();
  spec.input = {hwc[2], hwc[0], hwc[1]};
  spec.num_classes = tiny["classes"].get<int64_t>();
  Network network(spec);
  torch::NoGradGuard no_grad;
  for (auto& item : network->named_parameters()) {
    const std::string layer = item.key().substr(0, item.key().find('.'));
    const bool kernel = is_kernel(item.key());
    const auto& value = weights.at(layer + (kernel ? ".kernel" : ".bias"));
    item.value().copy_(kernel ? from_keras(tensor_of(value)) : tensor_of(value));
  }
  return network;
}

// The images as cnnlab holds them: [N, C, H, W] uint8 (the golden pixels are multiples of 1/255).
Dataset tiny_dataset() {
  const auto& tiny = golden()["tiny"];
  Dataset data;
  data.images = (tensor_of(tiny["images_nhwc"]).permute({0, 3, 1, 2}) * 255)
                    .round()
                    .to(torch::kUInt8)
                    .contiguous();
  data.labels = torch::tensor(tiny["labels"].get<std::vector<int64_t>>(), torch::kInt64);
  for (int64_t c = 0; c < tiny["classes"].get<int64_t>(); ++c) {
    data.class_names.push_back(std::to_string(c));
  }
  return data;
}

double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

TEST(KerasGoldenTest, ForwardPassWithChannelsLastFlattenMatchesKeras) {
  const auto& tiny = golden()["tiny"];
  Network network = tiny_network(tiny["weights"]);
  network->eval();
  const auto probabilities = network->predict_proba(to_unit_float(tiny_dataset().images));
  EXPECT_LT(max_difference(probabilities, tensor_of(tiny["probabilities"])), kTolerance);
}

TEST(KerasGoldenTest, ChannelsFirstFlattenDoesNotMatchKeras) {
  // The same weights through PyTorch's flatten order: the comparison above can fail.
  const auto& tiny = golden()["tiny"];
  Network keras_order = tiny_network(tiny["weights"]);
  ModelSpec spec = keras_order->spec();
  spec.layers[2].data_format = DataFormat::kChannelsFirst;
  Network torch_order(spec);
  {
    torch::NoGradGuard no_grad;
    for (auto& item : torch_order->named_parameters()) {
      item.value().copy_(keras_order->named_parameters()[item.key()]);
    }
  }
  torch_order->eval();
  const auto probabilities = torch_order->predict_proba(to_unit_float(tiny_dataset().images));
  EXPECT_GT(max_difference(probabilities, tensor_of(tiny["probabilities"])), 1e-3);
}

// The tiny network with PyTorch's Flatten order, its Dense kernel's columns reordered from
// Keras' (h, w, c) to (c, h, w): the same function as Keras' model.
Network channels_first_tiny() {
  Network keras_order = tiny_network(golden()["tiny"]["weights"]);
  ModelSpec spec = keras_order->spec();
  spec.layers[2].data_format = DataFormat::kChannelsFirst;
  const auto& maps = keras_order->shapes()[1].output;  // the pool's [c, h, w]
  Network torch_order(spec);
  torch::NoGradGuard no_grad;
  for (auto& item : torch_order->named_parameters()) {
    auto value = keras_order->named_parameters()[item.key()];
    if (item.key() == "Dense.weight") {
      value = value.view({value.size(0), maps[1], maps[2], maps[0]})
                  .permute({0, 3, 1, 2})
                  .reshape({value.size(0), -1});
    }
    item.value().copy_(value);
  }
  return torch_order;
}

TEST(KerasGoldenTest, ChannelsFirstModelsExportInKerasOrder) {
  const auto& tiny = golden()["tiny"];
  Network network = channels_first_tiny();
  network->eval();
  // It is Keras' model …
  const auto probabilities = network->predict_proba(to_unit_float(tiny_dataset().images));
  ASSERT_LT(max_difference(probabilities, tensor_of(tiny["probabilities"])), kTolerance);
  // … so its weights in Keras' layout are Keras' weights.
  for (const auto& layer : keras_weights(*network)) {
    for (const auto& weight : layer.weights) {
      const std::string key =
          layer.name + (weight.name.find("kernel") != std::string::npos ? ".kernel" : ".bias");
      EXPECT_TRUE(torch::equal(weight.value, tensor_of(tiny["weights"].at(key)))) << weight.name;
    }
  }
}

#ifdef CNNLAB_HAVE_HDF5
// What a Keras weights file holds: the root's layer_names, and each layer's weight_names with
// the values at <layer>/<weight name>.
struct KerasFile {
  std::vector<std::string> layers;
  std::map<std::string, std::vector<std::string>> weight_names;
  std::map<std::string, torch::Tensor> values;
};

std::vector<std::string> string_list(hid_t object, const char* name) {
  const hid_t attribute = H5Aopen(object, name, H5P_DEFAULT);
  const hid_t type = H5Aget_type(attribute), space = H5Aget_space(attribute);
  std::vector<std::string> out;
  const auto count = H5Sget_simple_extent_npoints(space);
  if (H5Tget_class(type) == H5T_STRING && count > 0) {
    EXPECT_TRUE(H5Tis_variable_str(type) > 0) << name;
    std::vector<char*> texts(static_cast<std::size_t>(count));
    const hid_t memory = H5Tcopy(H5T_C_S1);
    H5Tset_size(memory, H5T_VARIABLE);
    H5Aread(attribute, memory, texts.data());
    for (char* text : texts) out.emplace_back(text);
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(memory, space, H5P_DEFAULT, texts.data());
#else
    H5Dvlen_reclaim(memory, space, H5P_DEFAULT, texts.data());
#endif
    H5Tclose(memory);
  }
  H5Sclose(space);
  H5Tclose(type);
  H5Aclose(attribute);
  return out;
}

KerasFile read_keras_file(const std::string& path) {
  KerasFile file;
  const hid_t root = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT_GE(root, 0) << path;
  file.layers = string_list(root, "layer_names");
  for (const auto& layer : file.layers) {
    const hid_t group = H5Gopen2(root, layer.c_str(), H5P_DEFAULT);
    file.weight_names[layer] = string_list(group, "weight_names");
    for (const auto& weight : file.weight_names[layer]) {
      const hid_t data = H5Dopen2(group, weight.c_str(), H5P_DEFAULT);
      const hid_t space = H5Dget_space(data);
      std::vector<hsize_t> dims(static_cast<std::size_t>(H5Sget_simple_extent_ndims(space)));
      H5Sget_simple_extent_dims(space, dims.data(), nullptr);
      auto value = torch::empty(std::vector<int64_t>(dims.begin(), dims.end()), torch::kFloat32);
      H5Dread(data, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, value.data_ptr<float>());
      file.values[weight] = value;
      H5Sclose(space);
      H5Dclose(data);
    }
    H5Gclose(group);
  }
  H5Fclose(root);
  return file;
}

TEST(KerasGoldenTest, ExportedWeightsFileIsWhatKerasWrites) {
  testing::TempDir dir;
  Network network = channels_first_tiny();
  write_keras_weights(*network, dir / "weights.h5");
  const KerasFile ours = read_keras_file((dir / "weights.h5").string());
  const KerasFile keras =
      read_keras_file(std::string(CNNLAB_SOURCE_DIR) + "/tests/golden/keras/tiny.h5");
  EXPECT_EQ(ours.layers, keras.layers);
  EXPECT_EQ(ours.weight_names, keras.weight_names);
  ASSERT_EQ(ours.values.size(), keras.values.size());
  for (const auto& [name, value] : keras.values) {
    ASSERT_TRUE(ours.values.count(name) == 1) << name;
    EXPECT_TRUE(torch::equal(ours.values.at(name), value)) << name;
  }
}
#endif

TEST(KerasGoldenTest, LossIncludesTheL2TermsAsKerasEvaluates) {
  const auto& tiny = golden()["tiny"];
  Network network = tiny_network(tiny["weights"]);
  EXPECT_NEAR(network->l2_penalty().item<double>(), tiny["l2_penalty"].get<double>(), kTolerance);
  const EvalResult result = evaluate(network, tiny_dataset(), Normalization{}, 32);
  EXPECT_NEAR(result.loss, tiny["loss"].get<double>(), kTolerance);
}

// Trains the tiny model for the golden case's steps (the whole batch each step) and returns
// the largest difference from Keras' weights.
double adam_difference(const nlohmann::json& adam, bool keras_epsilon) {
  const auto& tiny = golden()["tiny"];
  TrainerOptions options;
  options.epochs(adam["steps"].get<int64_t>())
      .batch_size(5)
      .precision(Precision::kFloat32)
      .optimizer(OptimizerOptions()
                     .lr(adam["lr"].get<double>())
                     .beta1(adam["beta1"].get<double>())
                     .beta2(adam["beta2"].get<double>())
                     .eps(adam["epsilon"].get<double>())
                     .keras_epsilon(keras_epsilon));
  Trainer trainer(tiny_network(tiny["weights"]), options);
  EXPECT_EQ(trainer.fit(tiny_dataset(), {}, Normalization{}), FitStatus::kCompleted);
  double worst = 0;
  for (const auto& item : trainer.network()->named_parameters()) {
    const std::string layer = item.key().substr(0, item.key().find('.'));
    const bool kernel = is_kernel(item.key());
    const auto expected = tensor_of(adam["weights"].at(layer + (kernel ? ".kernel" : ".bias")));
    worst = std::max(worst, max_difference(item.value(), kernel ? from_keras(expected) : expected));
  }
  // Keras' train_on_batch returns the loss before its update, as the history's step loss is.
  const auto& steps = trainer.history().steps;
  const auto losses = adam["losses"].get<std::vector<double>>();
  EXPECT_EQ(steps.size(), losses.size());
  for (std::size_t i = 0; i < std::min(steps.size(), losses.size()); ++i) {
    if (keras_epsilon) EXPECT_NEAR(steps[i].loss, losses[i], kTolerance) << "step " << i + 1;
  }
  return worst;
}

TEST(KerasGoldenTest, AdamWithKerasEpsilonTakesKerasSteps) {
  for (const auto& adam : golden()["tiny"]["adam"]) {
    EXPECT_LT(adam_difference(adam, /*keras_epsilon=*/true), kTolerance)
        << "epsilon " << adam["epsilon"].get<double>();
  }
}

TEST(KerasGoldenTest, AdamWithPyTorchEpsilonDiffersWhereEpsilonIsLarge) {
  for (const auto& adam : golden()["tiny"]["adam"]) {
    if (adam["epsilon"].get<double>() < 0.01) continue;
    EXPECT_GT(adam_difference(adam, /*keras_epsilon=*/false), 1e-4);
  }
}

TEST(KerasGoldenTest, SummaryIsKerasText) {
  for (const auto& [file, text] : golden()["summaries"].items()) {
    const RunConfig config = load_config_file(std::string(CNNLAB_SOURCE_DIR) + "/" + file);
    EXPECT_EQ(model_summary(config.model, config.name), text.get<std::string>()) << file;
  }
}

TEST(KerasGoldenTest, ImageDataGeneratorTransformsMatch) {
  const auto& augment = golden()["augment"];
  // [H, W, C] → [1, C, H, W]
  const auto image = tensor_of(augment["image_hwc"]).permute({2, 0, 1}).unsqueeze(0).contiguous();
  AugmentOptions options;
  // Any range turns the affine transform on; the parameters below are what it applies.
  options.rotation_range(1).fill_mode(
      parse_fill_mode(augment["fill_mode"].get<std::string>(), "fill_mode"));
  for (const auto& c : augment["cases"]) {
    const auto& p = c["parameters"];
    AugmentParams params = AugmentParams::identity(1);
    const auto set = [&p](torch::Tensor& field, const char* key) {
      if (p.contains(key)) field.fill_(p[key].get<double>());
    };
    set(params.theta, "theta");
    set(params.tx, "tx");
    set(params.ty, "ty");
    set(params.shear, "shear");
    set(params.zx, "zx");
    set(params.zy, "zy");
    if (p.contains("flip_horizontal"))
      params.flip_horizontal.fill_(p["flip_horizontal"].get<bool>());
    const auto out = apply_augmentation(image, params, options);
    const auto expected = tensor_of(c["output_hwc"]).permute({2, 0, 1}).unsqueeze(0);
    EXPECT_LT(max_difference(out, expected), kTolerance) << p.dump();
  }
}

}  // namespace
}  // namespace cnnlab
