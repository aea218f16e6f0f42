#include "cnnlab/models/export.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cnnlab/error.h"
#include "cnnlab/io/atomic_file.h"
#include "cnnlab/io/utf8.h"

namespace cnnlab {

namespace {

// A Python string literal of `text`: JSON's escapes are Python's, and the file is UTF-8.
std::string python_string(const std::string& text) {
  return nlohmann::json(valid_utf8(text)).dump();
}

// Layer names that are kept as attribute names in Python (self.Conv1): capitalised identifiers,
// which no attribute of torch.nn.Module is (but for the type alias T_destination).
bool attribute_name(const std::string& name) {
  if (name.empty() || name[0] < 'A' || name[0] > 'Z') return false;
  if (name == "True" || name == "False" || name == "None" || name == "T_destination") return false;
  for (const char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string pair(const std::array<int64_t, 2>& values) {
  return fmt::format("({}, {})", values[0], values[1]);
}

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// `x` through the activation, as Network's forward applies it (the output layer's softmax is
// left to the caller: the module returns logits).
std::string activated(const std::string& x, Activation activation, bool is_output) {
  switch (activation) {
    case Activation::kLinear:
      return x;
    case Activation::kRelu:
      return fmt::format("torch.relu({})", x);
    case Activation::kLeakyRelu:
      return fmt::format("F.leaky_relu({}, 0.3)", x);
    case Activation::kElu:
      return fmt::format("F.elu({})", x);
    case Activation::kGelu:
      return fmt::format("F.gelu({})", x);
    case Activation::kSigmoid:
      return fmt::format("torch.sigmoid({})", x);
    case Activation::kTanh:
      return fmt::format("torch.tanh({})", x);
    case Activation::kSoftmax:
      return is_output ? x : fmt::format("torch.softmax({}, 1)", x);
  }
  return x;
}

std::string numbers(const std::vector<double>& values) {
  std::vector<std::string> texts;
  for (const double v : values) texts.push_back(fmt::format("{}", v));
  return fmt::format("[{}]", fmt::join(texts, ", "));
}

constexpr const char* kLoader = R"(

def read_safetensors(path):
    """The tensors of a .safetensors file, by name, read with nothing but PyTorch (Hugging Face's
    safetensors.torch.load_file reads the same file)."""
    with open(path, "rb") as f:
        data = f.read()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    header.pop("__metadata__", None)
    dtypes = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
    tensors = {}
    for name, entry in header.items():
        begin, end = (8 + size + offset for offset in entry["data_offsets"])
        flat = torch.frombuffer(bytearray(data[begin:end]), dtype=dtypes[entry["dtype"]])
        tensors[name] = flat.reshape(entry["shape"])
    return tensors


def load(weights=None, device="cpu"):
    """The model with its trained weights (by default weights.safetensors beside this file), in
    evaluation mode, on `device`."""
    if weights is None:
        weights = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.safetensors")
    model = Model()
    model.load_state_dict(read_safetensors(weights))
    return model.to(device).eval()
)";

}  // namespace

std::string safetensors_bytes(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> contents;
  int64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const auto t = tensor.detach().to(torch::kCPU).contiguous();
    std::string dtype;
    if (t.scalar_type() == torch::kFloat32) {
      dtype = "F32";
    } else if (t.scalar_type() == torch::kFloat64) {
      dtype = "F64";
    } else if (t.scalar_type() == torch::kInt64) {
      dtype = "I64";
    } else {
      throw ConfigError(fmt::format("tensor '{}': expected float32, float64 or int64, found {}",
                                    name, c10::toString(t.scalar_type())));
    }
    const int64_t bytes = static_cast<int64_t>(t.nbytes());
    header[name] = {
        {"dtype", dtype}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contents.push_back(t);
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  uint64_t size = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((size >> (8 * i)) & 0xff);
  out += json;
  for (const auto& t : contents) {
    out.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  }
  return out;
}

std::vector<std::string> python_layer_names(const ModelSpec& spec) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const std::string& name = spec.layers[i].name;
    names.push_back(attribute_name(name) ? name : fmt::format("layer{}", i + 1));
  }
  return names;
}

std::string pytorch_module_source(const ModelSpec& spec, const ExportInfo& info) {
  const auto shapes = infer_shapes(spec);
  const auto python_names = python_layer_names(spec);
  std::string init, forward;
  std::vector<int64_t> in(spec.input.begin(), spec.input.end());
  const std::size_t last = spec.layers.size() - 1;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& s = spec.layers[i];
    const auto& p = shapes[i].pad;
    const bool padded = p != std::array<int64_t, 4>{0, 0, 0, 0};
    const std::string ref = "self." + python_names[i];
    std::string module, value = "x";
    switch (s.type) {
      case LayerType::kConv2d: {
        // Symmetric padding is the convolution's own; TensorFlow's odd pixel on the right or
        // bottom needs an explicit pad.
        const bool symmetric = p[0] == p[1] && p[2] == p[3];
        module = fmt::format("nn.Conv2d({}, {}, {}, stride={}, padding=({}, {}), bias={})", in[0],
                             s.filters, pair(s.kernel), pair(s.stride), symmetric ? p[2] : 0,
                             symmetric ? p[0] : 0, s.use_bias ? "True" : "False");
        if (!symmetric) {
          forward +=
              fmt::format("        x = F.pad(x, ({}, {}, {}, {}))\n", p[0], p[1], p[2], p[3]);
        }
        value = ref + "(x)";
        break;
      }
      case LayerType::kMaxPool:
      case LayerType::kAvgPool: {
        const bool max = s.type == LayerType::kMaxPool;
        module = fmt::format("nn.{}({}, stride={})", max ? "MaxPool2d" : "AvgPool2d",
                             pair(s.kernel), pair(s.stride));
        if (padded) {
          // Max pooling pads with -inf so the padding never wins, as TensorFlow does.
          forward += fmt::format("        x = F.pad(x, ({}, {}, {}, {}){})\n", p[0], p[1], p[2],
                                 p[3], max ? ", value=float(\"-inf\")" : "");
        }
        value = ref + "(x)";
        break;
      }
      case LayerType::kBatchNorm:
        // Keras' momentum (the share kept) is 1 − PyTorch's (the share replaced).
        module = fmt::format("nn.BatchNorm{}d({}, eps={}, momentum={})", in.size() == 3 ? 2 : 1,
                             in[0], s.epsilon, 1 - s.momentum);
        value = ref + "(x)";
        break;
      case LayerType::kRescaling:
        value = fmt::format("x * {} + {}", s.scale_factor, s.offset);
        break;
      case LayerType::kDropout:
        module = fmt::format("nn.Dropout({})", s.rate);
        value = ref + "(x)";
        break;
      case LayerType::kFlatten:
        value = s.data_format == DataFormat::kChannelsLast && in.size() == 3
                    ? "x.permute(0, 2, 3, 1).flatten(1)"
                    : "x.flatten(1)";
        break;
      case LayerType::kGlobalAvgPool:
        value = "x.mean((2, 3))";
        break;
      case LayerType::kGlobalMaxPool:
        value = "x.amax((2, 3))";
        break;
      case LayerType::kDense:
        module = fmt::format("nn.Linear({}, {}, bias={})", in[0], shapes[i].output[0],
                             s.use_bias ? "True" : "False");
        value = ref + "(x)";
        break;
    }
    if (!module.empty()) init += fmt::format("        {} = {}\n", ref, module);
    const bool is_output = i == last;
    // The comment names the layer as cnnlab does; a renamed one in quotes, with its escapes.
    forward += fmt::format("        x = {}  # {} {}{}\n", activated(value, s.activation, is_output),
                           python_names[i] == s.name ? s.name : python_string(s.name),
                           shape_text(shapes[i].output), is_output ? ": logits" : "");
    in = shapes[i].output;
  }

  std::string normalize;
  if (info.normalization.enabled()) {
    // Buffers that move with the module but stay out of its state dict (no layer's Python name
    // is lower case).
    init = std::string(
               "        # Pixels are normalised per channel as in training.\n"
               "        self.register_buffer(\"pixel_mean\", torch.tensor(MEAN).view(1, -1, 1, 1), "
               "persistent=False)\n"
               "        self.register_buffer(\"pixel_std\", torch.tensor(STD).view(1, -1, 1, 1), "
               "persistent=False)\n") +
           init;
    normalize = "        x = (x - self.pixel_mean) / self.pixel_std\n";
  }
  std::vector<std::string> classes;
  for (const auto& name : info.class_names) classes.push_back(python_string(name));
  std::string source = fmt::format(
      R"("""A convolutional image classifier trained by cnnlab, as a PyTorch module.

Written by `cnnlab export` ({generator}); the weights are in weights.safetensors beside this
file. Layers keep their names in cnnlab (Conv1, …) where those are capitalised Python names; the
others are layer1, layer2, … by position, their own names in the comments of forward().

    import torch
    import model                                 # this file
    net = model.load()                           # trained weights, evaluation mode
    images = torch.rand(8, *model.INPUT_SHAPE)   # [N, C, H, W], pixels scaled to [0, 1]
    probabilities = net(images).softmax(1)
    print([model.CLASSES[i] for i in probabilities.argmax(1)])

The module takes float32 images with pixels in [0, 1] (the normalisation of training is built in)
and returns logits. On to ONNX:
torch.onnx.export(net, torch.zeros(1, *model.INPUT_SHAPE), "model.onnx")
"""
import json
import os

import torch
from torch import nn
import torch.nn.functional as F

NAME = {name}
CLASSES = [{classes}]
INPUT_SHAPE = ({c}, {h}, {w})  # channels, height, width
MEAN = {mean}
STD = {std}


class Model(nn.Module):
    """The run's model, layer by layer as cnnlab computes it."""

    def __init__(self):
        super().__init__()
{init}
    def forward(self, x):
        """x: [N, {c}, {h}, {w}] float, pixels in [0, 1] -> logits [N, {classes_count}]."""
{normalize}{forward}        return x
)",
      fmt::arg("generator", info.generator), fmt::arg("name", python_string(info.name)),
      fmt::arg("classes", fmt::join(classes, ", ")), fmt::arg("c", spec.input[0]),
      fmt::arg("h", spec.input[1]), fmt::arg("w", spec.input[2]),
      fmt::arg("mean", info.normalization.enabled() ? numbers(info.normalization.mean) : "None"),
      fmt::arg("std", info.normalization.enabled() ? numbers(info.normalization.std) : "None"),
      fmt::arg("init", init), fmt::arg("normalize", normalize), fmt::arg("forward", forward),
      fmt::arg("classes_count", spec.num_classes));
  return source + kLoader;
}

std::vector<std::pair<std::string, torch::Tensor>> state_dict_tensors(NetworkImpl& network) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& item : network.named_parameters()) {
    tensors.emplace_back(item.key(), item.value().detach().to(torch::kCPU));
  }
  for (const auto& item : network.named_buffers()) {
    tensors.emplace_back(item.key(), item.value().detach().to(torch::kCPU));
  }
  return tensors;
}

ExportedFiles export_pytorch(NetworkImpl& network, const ExportInfo& info,
                             const std::filesystem::path& dir) {
  ensure_writable_directory(dir);
  ExportedFiles files{dir / "model.py", dir / "weights.safetensors"};
  // Tensors under the Python module's names: "<layer>.<tensor>", with renamed layers.
  const auto python_names = python_layer_names(network.spec());
  std::map<std::string, std::string> renamed;
  for (std::size_t i = 0; i < python_names.size(); ++i) {
    renamed[network.spec().layers[i].name] = python_names[i];
  }
  auto tensors = state_dict_tensors(network);
  for (auto& [name, tensor] : tensors) {
    const auto dot = name.find('.');
    name = renamed.at(name.substr(0, dot)) + name.substr(dot);
  }
  write_file_atomically(
      files.weights, safetensors_bytes(tensors, {{"format", "pt"}, {"generator", info.generator}}));
  write_file_atomically(files.model_py, pytorch_module_source(network.spec(), info));
  return files;
}

}  // namespace cnnlab
