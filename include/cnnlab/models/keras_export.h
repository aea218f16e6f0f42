#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "cnnlab/models/export.h"
#include "cnnlab/models/network.h"

namespace cnnlab {

/// One weight as Keras holds it: its name in Keras' weights file ("Conv1/kernel:0") and its
/// value in Keras' layout (a conv kernel [kh, kw, in, out], a dense kernel [in, out]; biases and
/// batch-norm vectors as they are), float32 on the CPU.
struct KerasWeight {
  std::string name;
  torch::Tensor value;
};

/// A layer of the network in Keras' terms: its name and its weights in the order Keras' layer
/// lists them (kernel, bias; gamma, beta, moving_mean, moving_variance). Layers without weights
/// (pools, flatten, dropout) are listed with none, as Keras' file lists them.
struct KerasLayer {
  std::string name;
  std::vector<KerasWeight> weights;
};

/// The network's weights converted to Keras' layouts. A Dense layer reading a channels-first
/// Flatten gets its kernel's rows reordered to the (height, width, channels) order of Keras'
/// Flatten, so that every cnnlab model computes the same in Keras.
std::vector<KerasLayer> keras_weights(NetworkImpl& network);

/// Whether this cnnlab was built with HDF5 (Debian's libhdf5-dev), which write_keras_weights
/// needs.
bool keras_export_built();

/// Writes `file` (atomically) in Keras 2's HDF5 weights format, as `model.save_weights("x.h5")`
/// does: the attributes layer_names, backend and keras_version at the root, a group per layer
/// with its weight_names, and each weight at <layer>/<weight name>. A Keras Sequential model of
/// the same layers reads it with `model.load_weights(file)`. Throws IoError naming the file when
/// it cannot be written, Error when this cnnlab was built without HDF5.
void write_keras_weights(NetworkImpl& network, const std::filesystem::path& file);

/// Python source of a Keras 2 Sequential model of `spec`'s layers, under their names, that
/// reads pixels in [0, 1] as cnnlab does (the run's normalisation first, where it has one):
/// `build()` makes it and `load()` reads weights.h5 beside the file into it. Imports tf_keras,
/// or tensorflow.keras where TensorFlow's own Keras is Keras 2.
std::string keras_model_source(const ModelSpec& spec, const ExportInfo& info);

/// Writes `dir`/model.py (keras_model_source) and `dir`/weights.h5 (write_keras_weights), each
/// atomically; `dir` is created. Throws IoError naming what cannot be written.
ExportedFiles export_keras(NetworkImpl& network, const ExportInfo& info,
                           const std::filesystem::path& dir);

}  // namespace cnnlab
