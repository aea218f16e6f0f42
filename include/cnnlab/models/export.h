#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cnnlab/data/dataset.h"
#include "cnnlab/models/network.h"

namespace cnnlab {

/// Named tensors in the safetensors format, as its specification (Hugging Face's safetensors)
/// lays it out and the loader in an exported model.py reads it: an 8-byte little-endian header
/// size, a JSON header giving each tensor's dtype, shape and byte range (`metadata` under
/// "__metadata__"), padded with spaces to a multiple of 8 bytes, then the tensors' bytes in
/// order. Tensors are written from the CPU, contiguous, in the machine's (little-endian) byte
/// order; float32 as F32, float64 as F64, int64 as I64. Throws ConfigError for another dtype.
std::string safetensors_bytes(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

/// What an exported model needs besides its weights: the classes it tells apart and how pixels
/// in [0, 1] are normalised before the first layer.
struct ExportInfo {
  std::string name;  // the run's name
  std::vector<std::string> class_names;
  Normalization normalization;
  std::string generator;  // e.g. "cnnlab 0.1.0"
};

/// Each layer's attribute name in an exported PyTorch module: its own where that is a capitalised
/// Python identifier (Conv1, Dense, …: none of torch.nn.Module's attributes is), else
/// "layer<position from 1>" (a layer named "training" or "my conv" could not be a child module).
std::vector<std::string> python_layer_names(const ModelSpec& spec);

/// Python source of a PyTorch module that computes what `spec`'s Network computes, its layers
/// under python_layer_names, so that the Network's state dict (so renamed) loads into it:
/// Keras' "same" padding as TensorFlow pads, Keras' batch-norm epsilon and momentum, logits out,
/// the input normalisation built in. The file also holds CLASSES, INPUT_SHAPE and
/// load(weights, device), which reads weights.safetensors beside it with nothing but PyTorch.
std::string pytorch_module_source(const ModelSpec& spec, const ExportInfo& info);

/// The tensors of `network`'s state dict on the CPU, parameters and buffers, in registration
/// order, under their state-dict names.
std::vector<std::pair<std::string, torch::Tensor>> state_dict_tensors(NetworkImpl& network);

/// Files an export wrote.
struct ExportedFiles {
  std::filesystem::path model_py;
  std::filesystem::path weights;
};

/// Writes `dir`/model.py and `dir`/weights.safetensors, the state dict under the Python names
/// (each file atomically; `dir` is created).
/// Throws IoError naming the folder or file that cannot be written.
ExportedFiles export_pytorch(NetworkImpl& network, const ExportInfo& info,
                             const std::filesystem::path& dir);

}  // namespace cnnlab
