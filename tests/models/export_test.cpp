#include "cnnlab/models/export.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cnnlab/error.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

LayerSpec layer(LayerType type, const std::string& name,
                Activation activation = Activation::kLinear) {
  LayerSpec s;
  s.type = type;
  s.name = name;
  s.activation = activation;
  return s;
}

LayerSpec conv(const std::string& name, int64_t filters, std::array<int64_t, 2> kernel,
               Padding padding, Activation activation) {
  LayerSpec s = layer(LayerType::kConv2d, name, activation);
  s.filters = filters;
  s.kernel = kernel;
  s.padding = padding;
  return s;
}

LayerSpec pool(LayerType type, const std::string& name, Padding padding) {
  LayerSpec s = layer(type, name);
  s.kernel = {2, 2};
  s.stride = {2, 2};
  s.padding = padding;
  return s;
}

LayerSpec dense(const std::string& name, int64_t units, Activation activation) {
  LayerSpec s = layer(LayerType::kDense, name, activation);
  s.units = units;
  return s;
}

// Every layer type and activation, "same" padding that TensorFlow makes uneven (a 2-row kernel,
// pools over odd sizes), both batch norms, and names that are no Python attribute.
ModelSpec every_layer_model() {
  ModelSpec spec;
  spec.input = {3, 9, 7};
  spec.num_classes = 4;
  LayerSpec no_bias = conv("my conv", 6, {3, 3}, Padding::kSame, Activation::kElu);
  no_bias.use_bias = false;
  LayerSpec dropout = layer(LayerType::kDropout, "Dropout1");
  dropout.rate = 0.5;
  spec.layers = {conv("Conv1", 5, {2, 3}, Padding::kSame, Activation::kLeakyRelu),
                 layer(LayerType::kBatchNorm, "BatchNorm1"),
                 pool(LayerType::kMaxPool, "Pool1", Padding::kSame),
                 no_bias,
                 pool(LayerType::kAvgPool, "pool_2", Padding::kSame),
                 conv("training", 4, {1, 1}, Padding::kValid, Activation::kGelu),
                 layer(LayerType::kGlobalAvgPool, "GlobalPool"),
                 dense("Dense1", 8, Activation::kTanh),
                 layer(LayerType::kBatchNorm, "pixel_mean"),
                 dropout,
                 dense("Dense2", 6, Activation::kSoftmax),
                 dense("Dense3", 6, Activation::kSigmoid),
                 dense("Output", 0, Activation::kSoftmax)};
  return spec;
}

// The speed-run recipe's layers: batch norm with Keras' momentum and epsilon of its own, no
// learnt scale and an activation; a rescaling.
ModelSpec recipe_model() {
  ModelSpec spec;
  spec.input = {2, 6, 6};
  spec.num_classes = 3;
  LayerSpec norm = layer(LayerType::kBatchNorm, "Norm");
  norm.momentum = 0.6;
  norm.epsilon = 1e-12;
  norm.scale = false;
  norm.activation = Activation::kGelu;
  LayerSpec rescale = layer(LayerType::kRescaling, "Rescale");
  rescale.scale_factor = 0.25;
  rescale.offset = 0.5;
  spec.layers = {conv("Conv1", 4, {3, 3}, Padding::kSame, Activation::kLinear),
                 norm,
                 pool(LayerType::kMaxPool, "Pool1", Padding::kValid),
                 layer(LayerType::kFlatten, "Flatten"),
                 rescale,
                 dense("Output", 0, Activation::kSoftmax)};
  return spec;
}

ModelSpec flatten_model() {
  ModelSpec spec;
  spec.input = {1, 8, 8};
  spec.num_classes = 3;
  spec.layers = {conv("Conv1", 4, {3, 3}, Padding::kValid, Activation::kSigmoid),
                 pool(LayerType::kMaxPool, "Pool1", Padding::kValid),
                 layer(LayerType::kFlatten, "Flatten"), dense("Output", 0, Activation::kLinear)};
  return spec;
}

ModelSpec global_max_model() {
  ModelSpec spec;
  spec.input = {2, 6, 5};
  spec.num_classes = 5;
  spec.layers = {conv("Conv1", 7, {3, 3}, Padding::kSame, Activation::kRelu),
                 layer(LayerType::kGlobalMaxPool, "GlobalPool"),
                 dense("Output", 0, Activation::kSoftmax)};
  return spec;
}

// Trained-looking weights: batch norms with statistics and affine terms away from 1 and 0.
Network randomised(const ModelSpec& spec) {
  torch::manual_seed(7);
  Network network(spec);
  torch::NoGradGuard no_grad;
  for (auto& item : network->named_buffers()) {
    if (item.key().find("running_mean") != std::string::npos) item.value().normal_(0, 0.5);
    if (item.key().find("running_var") != std::string::npos) item.value().uniform_(0.5, 2);
  }
  for (auto& item : network->named_parameters()) {
    if (item.value().dim() == 1) item.value().normal_(0, 0.5);
  }
  network->eval();
  return network;
}

uint64_t header_size(const std::string& bytes) {
  uint64_t size = 0;
  for (int i = 7; i >= 0; --i) size = (size << 8) | static_cast<unsigned char>(bytes[i]);
  return size;
}

TEST(SafetensorsTest, HeaderGivesEachTensorsTypeShapeAndBytes) {
  // A channels-last tensor is written in its logical (row-major) order.
  const auto weights = torch::arange(24, torch::kFloat32)
                           .reshape({2, 3, 2, 2})
                           .contiguous(at::MemoryFormat::ChannelsLast);
  const auto count = torch::tensor({int64_t{-3}, int64_t{1} << 40});
  const std::string bytes = safetensors_bytes(
      {{"Conv1.weight", weights}, {"BatchNorm1.num_batches_tracked", count}}, {{"format", "pt"}});
  const uint64_t size = header_size(bytes);
  EXPECT_EQ((8 + size) % 8, 0u);
  const auto header = nlohmann::json::parse(bytes.substr(8, size));
  EXPECT_EQ(header["__metadata__"]["format"], "pt");
  EXPECT_EQ(header["Conv1.weight"]["dtype"], "F32");
  EXPECT_EQ(header["Conv1.weight"]["shape"], nlohmann::json({2, 3, 2, 2}));
  EXPECT_EQ(header["Conv1.weight"]["data_offsets"], nlohmann::json({0, 96}));
  EXPECT_EQ(header["BatchNorm1.num_batches_tracked"]["dtype"], "I64");
  EXPECT_EQ(header["BatchNorm1.num_batches_tracked"]["data_offsets"], nlohmann::json({96, 112}));
  ASSERT_EQ(bytes.size(), 8 + size + 112);
  const char* data = bytes.data() + 8 + size;
  for (int i = 0; i < 24; ++i) {
    float value = 0;
    std::memcpy(&value, data + 4 * i, 4);
    EXPECT_EQ(value, static_cast<float>(i));
  }
  int64_t big = 0;
  std::memcpy(&big, data + 104, 8);
  EXPECT_EQ(big, int64_t{1} << 40);
}

TEST(SafetensorsTest, OtherTypesNameTheTensor) {
  try {
    safetensors_bytes({{"Pixels", torch::zeros({2}, torch::kUInt8)}});
    FAIL() << "uint8 was written";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'Pixels': expected float32"), std::string::npos)
        << e.what();
  }
}

TEST(ExportTest, WeightsAreTheStateDictUnderItsNames) {
  Network network = randomised(every_layer_model());
  const auto tensors = state_dict_tensors(*network);
  std::size_t expected = 0;
  for (const auto& item : network->named_parameters()) {
    ++expected;
    const auto it = std::find_if(tensors.begin(), tensors.end(),
                                 [&](const auto& t) { return t.first == item.key(); });
    ASSERT_NE(it, tensors.end()) << item.key();
    EXPECT_TRUE(torch::equal(it->second, item.value())) << item.key();
  }
  expected += network->named_buffers().size();
  EXPECT_EQ(tensors.size(), expected);
}

TEST(ExportTest, LayersThatCannotBeAttributesAreNumbered) {
  EXPECT_EQ(python_layer_names(every_layer_model()),
            (std::vector<std::string>{"Conv1", "BatchNorm1", "Pool1", "layer4", "layer5", "layer6",
                                      "GlobalPool", "Dense1", "layer9", "Dropout1", "Dense2",
                                      "Dense3", "Output"}));
  ModelSpec odd = flatten_model();
  odd.layers[0].name = "None";
  odd.layers[1].name = "T_destination";
  odd.layers[2].name = "Flat-1";
  odd.layers[3].name = "Ausgabe_2";
  EXPECT_EQ(python_layer_names(odd),
            (std::vector<std::string>{"layer1", "layer2", "layer3", "Ausgabe_2"}));
}

TEST(ExportTest, SourceNamesEveryLayerAndQuotesNames) {
  ExportInfo info;
  info.name = "run \"one\"";
  info.class_names = {"cat", "say \"hi\"\nnow", "back\\slash", "čaj"};
  const std::string source = pytorch_module_source(every_layer_model(), info);
  EXPECT_NE(source.find("self.Conv1 = nn.Conv2d(3, 5, (2, 3)"), std::string::npos) << source;
  EXPECT_NE(source.find("self.layer4 = nn.Conv2d(5, 6, (3, 3), stride=(1, 1), padding=(1, 1), "
                        "bias=False)"),
            std::string::npos)
      << source;
  EXPECT_NE(source.find("x = F.gelu(self.layer6(x))  # \"training\" [4, 3, 2]"), std::string::npos)
      << source;
  EXPECT_NE(source.find(R"(CLASSES = ["cat", "say \"hi\"\nnow", "back\\slash", "čaj"])"),
            std::string::npos)
      << source;
  EXPECT_NE(source.find(R"(NAME = "run \"one\"")"), std::string::npos) << source;
  const std::string recipe = pytorch_module_source(recipe_model(), info);
  EXPECT_NE(recipe.find("nn.BatchNorm2d(4, eps=1e-12, momentum=0.4)"), std::string::npos) << recipe;
  EXPECT_NE(recipe.find("x = x * 0.25 + 0.5  # Rescale"), std::string::npos) << recipe;
  // Without normalisation there is nothing to subtract.
  EXPECT_NE(source.find("MEAN = None"), std::string::npos);
  EXPECT_EQ(source.find("register_buffer"), std::string::npos) << source;
}

// What PyTorch from Python computes with the exported files: the logits of `input` from
// model.py's module with weights.safetensors, for each folder.
nlohmann::json python_logits(const fs::path& work, const std::vector<fs::path>& dirs) {
  testing::write_text(work / "logits.py", R"(
import importlib.util, json, os, sys
import torch
results = []
for i, folder in enumerate(sys.argv[1:]):
    spec = importlib.util.spec_from_file_location(f"exported{i}", os.path.join(folder, "model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.load()
    x = module.read_safetensors(os.path.join(folder, "input.safetensors"))["input"]
    with torch.no_grad():
        logits = net(x)
    results.append({"logits": logits.tolist(), "classes": module.CLASSES, "name": module.NAME,
                    "training": net.training})
print("RESULT " + json.dumps(results))
)");
  std::string command = "/usr/bin/python3 " + (work / "logits.py").string();
  for (const auto& dir : dirs) command += " " + dir.string();
  const auto outcome = testing::run_command(command);
  const auto at = outcome.output.rfind("RESULT ");
  if (outcome.exit_code != 0 || at == std::string::npos) {
    ADD_FAILURE() << "PyTorch from Python (Debian package python3-torch, which scripts/setup.sh "
                     "installs) could not run the exported models:\n"
                  << outcome.output;
    return nlohmann::json::array();
  }
  return nlohmann::json::parse(outcome.output.substr(at + 7));
}

TEST(ExportTest, PyTorchComputesTheSameLogitsFromTheExportedFiles) {
  TempDir tmp;
  const std::vector<ModelSpec> specs = {every_layer_model(), flatten_model(), global_max_model(),
                                        recipe_model()};
  std::vector<fs::path> dirs;
  std::vector<torch::Tensor> expected;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    Network network = randomised(specs[i]);
    ExportInfo info;
    info.name = "model " + std::to_string(i);
    for (int64_t c = 0; c < specs[i].num_classes; ++c)
      info.class_names.push_back("class" + std::to_string(c));
    if (i == 0) info.normalization = Normalization{{0.2, 0.5, 0.7}, {0.3, 0.25, 0.1}};
    const fs::path dir = tmp / ("export" + std::to_string(i));
    const ExportedFiles files = export_pytorch(*network, info, dir);
    EXPECT_EQ(files.model_py, dir / "model.py");
    EXPECT_EQ(files.weights, dir / "weights.safetensors");
    const auto& in = specs[i].input;
    const auto x = torch::rand({6, in[0], in[1], in[2]});
    std::ofstream(dir / "input.safetensors", std::ios::binary) << safetensors_bytes({{"input", x}});
    torch::Tensor input = x;
    if (info.normalization.enabled()) input = normalize_(x.clone(), info.normalization);
    expected.push_back(network->forward(input).detach());
    dirs.push_back(dir);
  }
  const auto results = python_logits(tmp.path(), dirs);
  ASSERT_EQ(results.size(), specs.size());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto& result = results[i];
    EXPECT_EQ(result["name"], "model " + std::to_string(i));
    EXPECT_EQ(result["classes"].size(), static_cast<std::size_t>(specs[i].num_classes));
    EXPECT_FALSE(result["training"].get<bool>());
    const auto logits = result["logits"].get<std::vector<std::vector<float>>>();
    ASSERT_EQ(logits.size(), 6u);
    for (int64_t row = 0; row < 6; ++row) {
      ASSERT_EQ(static_cast<int64_t>(logits[row].size()), specs[i].num_classes);
      for (int64_t c = 0; c < specs[i].num_classes; ++c) {
        EXPECT_NEAR(logits[row][c], expected[i][row][c].item<float>(), 1e-4)
            << "model " << i << ", image " << row << ", class " << c;
      }
    }
  }
}

TEST(ExportTest, UnwritableFolderIsAClearError) {
  TempDir tmp;
  testing::write_text(tmp / "file", "not a folder");
  Network network = randomised(flatten_model());
  EXPECT_THROW(export_pytorch(*network, ExportInfo{}, tmp / "file" / "out"), IoError);
}

}  // namespace
}  // namespace cnnlab
