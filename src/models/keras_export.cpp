#include "cnnlab/models/keras_export.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#ifdef CNNLAB_HAVE_HDF5
#include <hdf5.h>
#endif

#include "cnnlab/error.h"
#include "cnnlab/io/atomic_file.h"
#include "cnnlab/io/utf8.h"

namespace cnnlab {

namespace {

torch::Tensor cpu_float(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
}

// A dense kernel [out, in] whose input comes from a channels-first Flatten of [c, h, w] maps,
// as Keras wants it after its channels-last Flatten: [h·w·c, out].
torch::Tensor dense_after_channels_first(const torch::Tensor& weight,
                                         const std::vector<int64_t>& maps) {
  const int64_t out = weight.size(0);
  return weight.view({out, maps[0], maps[1], maps[2]}).permute({0, 2, 3, 1}).reshape({out, -1}).t();
}

// A Python string literal of `text`: JSON's escapes are Python's, and the file is UTF-8.
std::string quoted(const std::string& text) { return nlohmann::json(valid_utf8(text)).dump(); }

std::string keras_activation(Activation activation) {
  switch (activation) {
    case Activation::kLinear:
      return "None";
    case Activation::kLeakyRelu:
      return "lambda x: tf.nn.leaky_relu(x, alpha=0.3)";  // cnnlab's slope, Keras' LeakyReLU's
    default:
      return quoted(activation_name(activation));
  }
}

// The layer's L2 term, so that Keras' loss is cnnlab's.
std::string regularizer(const LayerSpec& s) {
  return s.l2 > 0 ? fmt::format(", kernel_regularizer=keras.regularizers.l2({})", s.l2) : "";
}

std::string keras_layer(const LayerSpec& s) {
  const std::string name = quoted(s.name);
  const auto pair = [](const std::array<int64_t, 2>& v) {
    return fmt::format("({}, {})", v[0], v[1]);
  };
  switch (s.type) {
    case LayerType::kConv2d:
      return fmt::format(
          "layers.Conv2D({}, {}, strides={}, padding={}, activation={}, use_bias={}{}, name={})",
          s.filters, pair(s.kernel), pair(s.stride), quoted(padding_name(s.padding)),
          keras_activation(s.activation), s.use_bias ? "True" : "False", regularizer(s), name);
    case LayerType::kMaxPool:
    case LayerType::kAvgPool:
      return fmt::format("layers.{}({}, strides={}, padding={}, name={})", layer_keras_name(s.type),
                         pair(s.kernel), pair(s.stride), quoted(padding_name(s.padding)), name);
    case LayerType::kGlobalAvgPool:
    case LayerType::kGlobalMaxPool:
    case LayerType::kFlatten:
      return fmt::format("layers.{}(name={})", layer_keras_name(s.type), name);
    case LayerType::kBatchNorm: {
      // Keras' batch norm has no activation: a layer of its own follows.
      std::string text = fmt::format(
          "layers.BatchNormalization(momentum={}, epsilon={}, center={}, scale={}, name={})",
          s.momentum, s.epsilon, s.center ? "True" : "False", s.scale ? "True" : "False", name);
      if (s.activation != Activation::kLinear) {
        text += fmt::format(",\n        layers.Activation({}, name={})",
                            keras_activation(s.activation), quoted(s.name + "_activation"));
      }
      return text;
    }
    case LayerType::kRescaling:
      return fmt::format("layers.Rescaling({}, offset={}, name={})", s.scale_factor, s.offset,
                         name);
    case LayerType::kDropout:
      return fmt::format("layers.Dropout({}, name={})", s.rate, name);
    case LayerType::kDense:
      return fmt::format("layers.Dense({}, activation={}, use_bias={}{}, name={})", s.units,
                         keras_activation(s.activation), s.use_bias ? "True" : "False",
                         regularizer(s), name);
  }
  return "";
}

}  // namespace

std::string keras_model_source(const ModelSpec& spec, const ExportInfo& info) {
  std::vector<std::string> classes;
  for (const auto& name : info.class_names) classes.push_back(quoted(name));
  std::string layers = fmt::format("        keras.Input(shape=({}, {}, {})),\n", spec.input[1],
                                   spec.input[2], spec.input[0]);
  if (info.normalization.enabled()) {
    layers += fmt::format(
        "        layers.Lambda(lambda x: (x - {}) / {}, name=\"Normalize\"),  # as cnnlab does\n",
        fmt::format("[{}]", fmt::join(info.normalization.mean, ", ")),
        fmt::format("[{}]", fmt::join(info.normalization.std, ", ")));
  }
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    LayerSpec s = spec.layers[i];
    // The last dense layer's units default to the number of classes.
    if (s.type == LayerType::kDense && s.units == 0) s.units = spec.num_classes;
    layers += "        " + keras_layer(s) + ",\n";
  }
  return fmt::format(R"("""The cnnlab run {name} as a Keras 2 model, written by {generator}.

    import model
    net = model.load()                      # weights.h5 beside this file
    probabilities = net.predict(images)     # images: [N, {h}, {w}, {c}] float32, pixels in [0, 1]

Flatten runs in Keras' channels-last order; cnnlab reordered the weights of a model trained with
channels-first order to match, so the predictions are cnnlab's.
"""

import os

try:
    import tf_keras as keras
except ImportError:  # TensorFlow before 2.16, whose own Keras is Keras 2
    from tensorflow import keras
import tensorflow as tf

layers = keras.layers

CLASS_NAMES = [{classes}]


def build():
    """The model, untrained."""
    return keras.Sequential([
{layers}    ], name={model_name})


def load(weights=None):
    """The model with the run's weights (by default weights.h5 beside this file)."""
    if weights is None:
        weights = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.h5")
    model = build()
    model.load_weights(weights)
    return model
)",
                     fmt::arg("name", quoted(info.name)), fmt::arg("generator", info.generator),
                     fmt::arg("h", spec.input[1]), fmt::arg("w", spec.input[2]),
                     fmt::arg("c", spec.input[0]), fmt::arg("classes", fmt::join(classes, ", ")),
                     fmt::arg("layers", layers), fmt::arg("model_name", quoted(info.name)));
}

ExportedFiles export_keras(NetworkImpl& network, const ExportInfo& info,
                           const std::filesystem::path& dir) {
  ensure_writable_directory(dir);
  ExportedFiles files{dir / "model.py", dir / "weights.h5"};
  write_keras_weights(network, files.weights);
  write_file_atomically(files.model_py, keras_model_source(network.spec(), info));
  return files;
}

std::vector<KerasLayer> keras_weights(NetworkImpl& network) {
  const ModelSpec& spec = network.spec();
  const auto& shapes = network.shapes();
  const auto parameters = network.named_parameters();
  const auto buffers = network.named_buffers();
  const auto parameter = [&](const std::string& name) { return cpu_float(parameters[name]); };
  std::vector<KerasLayer> layers;
  // The [c, h, w] maps a channels-first Flatten read, until the Dense layer that consumes them.
  std::vector<int64_t> channels_first_maps;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& s = spec.layers[i];
    KerasLayer layer{s.name, {}};
    const auto add = [&](const std::string& weight, torch::Tensor value) {
      layer.weights.push_back({fmt::format("{}/{}:0", s.name, weight), std::move(value)});
    };
    switch (s.type) {
      case LayerType::kConv2d:
        add("kernel", parameter(s.name + ".weight").permute({2, 3, 1, 0}).contiguous());
        if (s.use_bias) add("bias", parameter(s.name + ".bias"));
        break;
      case LayerType::kDense: {
        const auto weight = parameter(s.name + ".weight");
        add("kernel",
            (channels_first_maps.empty() ? weight.t()
                                         : dense_after_channels_first(weight, channels_first_maps))
                .contiguous());
        if (s.use_bias) add("bias", parameter(s.name + ".bias"));
        channels_first_maps.clear();
        break;
      }
      case LayerType::kBatchNorm:
        if (s.scale) add("gamma", parameter(s.name + ".weight"));
        if (s.center) add("beta", parameter(s.name + ".bias"));
        add("moving_mean", cpu_float(buffers[s.name + ".running_mean"]));
        add("moving_variance", cpu_float(buffers[s.name + ".running_var"]));
        break;
      case LayerType::kFlatten: {
        const auto& in = i == 0 ? std::vector<int64_t>(spec.input.begin(), spec.input.end())
                                : shapes[i - 1].output;
        if (s.data_format == DataFormat::kChannelsFirst && in.size() == 3) channels_first_maps = in;
        break;
      }
      default:
        break;
    }
    layers.push_back(std::move(layer));
  }
  return layers;
}

#ifdef CNNLAB_HAVE_HDF5

namespace {

// An HDF5 handle closed when it goes out of scope.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t), const std::string& what) : id_(id), close_(close) {
    if (id_ < 0) throw IoError(what);
  }
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

void check(herr_t status, const std::string& what) {
  if (status < 0) throw IoError(what);
}

// An attribute holding variable-length ASCII strings, as h5py writes a list of str; an empty
// list is an empty float64 array, as NumPy makes it.
void string_list_attribute(hid_t object, const char* name, const std::vector<std::string>& values,
                           const std::string& file) {
  const std::string what = fmt::format("{}: cannot write the attribute {}", file, name);
  const hsize_t count = values.size();
  Handle space(H5Screate_simple(1, &count, nullptr), H5Sclose, what);
  if (values.empty()) {
    Handle attribute(
        H5Acreate2(object, name, H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
        what);
    return;
  }
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose, what);
  check(H5Tset_size(type.get(), H5T_VARIABLE), what);
  Handle attribute(H5Acreate2(object, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                   H5Aclose, what);
  std::vector<const char*> pointers;
  for (const auto& v : values) pointers.push_back(v.c_str());
  check(H5Awrite(attribute.get(), type.get(), pointers.data()), what);
}

void string_attribute(hid_t object, const char* name, const std::string& value,
                      const std::string& file) {
  const std::string what = fmt::format("{}: cannot write the attribute {}", file, name);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose, what);
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose, what);
  check(H5Tset_size(type.get(), H5T_VARIABLE), what);
  Handle attribute(H5Acreate2(object, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                   H5Aclose, what);
  const char* pointer = value.c_str();
  check(H5Awrite(attribute.get(), type.get(), &pointer), what);
}

void write_hdf5(const std::vector<KerasLayer>& layers, const std::filesystem::path& path,
                const std::string& file) {
  const std::string what = fmt::format("{}: cannot write the HDF5 file", file);
  Handle root(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose, what);
  std::vector<std::string> names;
  for (const auto& layer : layers) names.push_back(layer.name);
  string_attribute(root.get(), "backend", "tensorflow", file);
  string_attribute(root.get(), "keras_version", "2.21.0", file);
  string_list_attribute(root.get(), "layer_names", names, file);
  for (const auto& layer : layers) {
    Handle group(H5Gcreate2(root.get(), layer.name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                 H5Gclose, what);
    std::vector<std::string> weight_names;
    for (const auto& w : layer.weights) weight_names.push_back(w.name);
    string_list_attribute(group.get(), "weight_names", weight_names, file);
    for (const auto& w : layer.weights) {
      // "Conv1/kernel:0" lands in the subgroup Conv1 of the layer's group, as in Keras' files.
      Handle links(H5Pcreate(H5P_LINK_CREATE), H5Pclose, what);
      check(H5Pset_create_intermediate_group(links.get(), 1), what);
      std::vector<hsize_t> dims(w.value.sizes().begin(), w.value.sizes().end());
      Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose,
                   what);
      Handle data(H5Dcreate2(group.get(), w.name.c_str(), H5T_IEEE_F32LE, space.get(), links.get(),
                             H5P_DEFAULT, H5P_DEFAULT),
                  H5Dclose, what);
      check(H5Dwrite(data.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                     w.value.data_ptr<float>()),
            what);
    }
  }
}

}  // namespace

bool keras_export_built() { return true; }

void write_keras_weights(NetworkImpl& network, const std::filesystem::path& file) {
  const auto layers = keras_weights(network);
  // HDF5 prints a trace of every failed call on stderr; the IoError says what failed instead.
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  write_atomically(file, [&](const std::filesystem::path& temporary) {
    write_hdf5(layers, temporary, file.string());
  });
}

#else

bool keras_export_built() { return false; }

void write_keras_weights(NetworkImpl& /*network*/, const std::filesystem::path& file) {
  throw Error(fmt::format(
      "{}: this cnnlab was built without HDF5, which Keras' weights format needs; install "
      "libhdf5-dev (scripts/setup.sh does) and rebuild",
      file.string()));
}

#endif

}  // namespace cnnlab
