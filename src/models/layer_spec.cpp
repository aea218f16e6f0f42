#include "cnnlab/models/layer_spec.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <set>
#include <utility>

#include "cnnlab/error.h"

namespace cnnlab {

namespace {

template <typename Enum>
using NameTable = std::vector<std::pair<const char*, Enum>>;

const NameTable<LayerType>& layer_type_names() {
  static const NameTable<LayerType> table = {{"conv2d", LayerType::kConv2d},
                                             {"maxpool", LayerType::kMaxPool},
                                             {"avgpool", LayerType::kAvgPool},
                                             {"global_avgpool", LayerType::kGlobalAvgPool},
                                             {"global_maxpool", LayerType::kGlobalMaxPool},
                                             {"batchnorm", LayerType::kBatchNorm},
                                             {"dropout", LayerType::kDropout},
                                             {"flatten", LayerType::kFlatten},
                                             {"dense", LayerType::kDense},
                                             {"rescaling", LayerType::kRescaling}};
  return table;
}

const NameTable<Activation>& activation_names() {
  static const NameTable<Activation> table = {{"linear", Activation::kLinear},
                                              {"relu", Activation::kRelu},
                                              {"leaky_relu", Activation::kLeakyRelu},
                                              {"elu", Activation::kElu},
                                              {"gelu", Activation::kGelu},
                                              {"sigmoid", Activation::kSigmoid},
                                              {"tanh", Activation::kTanh},
                                              {"softmax", Activation::kSoftmax}};
  return table;
}

const NameTable<Padding>& padding_names() {
  static const NameTable<Padding> table = {{"valid", Padding::kValid}, {"same", Padding::kSame}};
  return table;
}

const NameTable<DataFormat>& data_format_names() {
  static const NameTable<DataFormat> table = {{"channels_first", DataFormat::kChannelsFirst},
                                              {"channels_last", DataFormat::kChannelsLast}};
  return table;
}

const NameTable<Initializer>& initializer_names() {
  static const NameTable<Initializer> table = {{"glorot_uniform", Initializer::kGlorotUniform},
                                               {"he_uniform", Initializer::kHeUniform},
                                               {"lecun_uniform", Initializer::kLecunUniform},
                                               {"pytorch", Initializer::kPyTorch},
                                               {"dirac", Initializer::kDirac},
                                               {"whitening", Initializer::kWhitening}};
  return table;
}

template <typename Enum>
const char* name_in(const NameTable<Enum>& table, Enum value) {
  for (const auto& [name, v] : table) {
    if (v == value) return name;
  }
  return "?";
}

template <typename Enum>
Enum parse_in(const NameTable<Enum>& table, const std::string& text, const std::string& where,
              const char* what) {
  std::string accepted;
  for (const auto& [name, v] : table) {
    if (text == name) return v;
    accepted += (accepted.empty() ? "" : ", ") + std::string(name);
  }
  throw ConfigError(
      fmt::format("{}: unknown {} '{}': expected one of {}", where, what, text, accepted));
}

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("{}", fmt::join(shape, "x"));
}

// Output length of a window sliding over `in` (TensorFlow's rule for "same": ceil(in / stride)).
int64_t window_output(int64_t in, int64_t window, int64_t stride, Padding padding) {
  if (padding == Padding::kSame) return (in + stride - 1) / stride;
  return in < window ? 0 : (in - window) / stride + 1;
}

// Parameters that train at the start of the run (a layer frozen later still counts).
int64_t trainable_count(const LayerSpec& layer, int64_t kernel, int64_t bias) {
  if (!layer.trainable) return 0;
  return (layer.kernel_trainable ? kernel : 0) + bias;
}

std::pair<int64_t, int64_t> same_padding(int64_t in, int64_t window, int64_t stride) {
  const int64_t out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((out - 1) * stride + window - in, 0);
  return {total / 2, total - total / 2};
}

}  // namespace

const char* layer_type_name(LayerType type) { return name_in(layer_type_names(), type); }
const char* activation_name(Activation activation) {
  return name_in(activation_names(), activation);
}
const char* padding_name(Padding padding) { return name_in(padding_names(), padding); }
const char* data_format_name(DataFormat format) { return name_in(data_format_names(), format); }
const char* initializer_name(Initializer initializer) {
  return name_in(initializer_names(), initializer);
}

const char* layer_keras_name(LayerType type) {
  switch (type) {
    case LayerType::kConv2d:
      return "Conv2D";
    case LayerType::kMaxPool:
      return "MaxPooling2D";
    case LayerType::kAvgPool:
      return "AveragePooling2D";
    case LayerType::kGlobalAvgPool:
      return "GlobalAveragePooling2D";
    case LayerType::kGlobalMaxPool:
      return "GlobalMaxPooling2D";
    case LayerType::kBatchNorm:
      return "BatchNormalization";
    case LayerType::kDropout:
      return "Dropout";
    case LayerType::kFlatten:
      return "Flatten";
    case LayerType::kDense:
      return "Dense";
    case LayerType::kRescaling:
      return "Rescaling";
  }
  return "?";
}

LayerType parse_layer_type(const std::string& text, const std::string& where) {
  return parse_in(layer_type_names(), text, where, "layer type");
}
Activation parse_activation(const std::string& text, const std::string& where) {
  return parse_in(activation_names(), text, where, "activation");
}
Padding parse_padding(const std::string& text, const std::string& where) {
  return parse_in(padding_names(), text, where, "padding");
}
DataFormat parse_data_format(const std::string& text, const std::string& where) {
  return parse_in(data_format_names(), text, where, "data format");
}
Initializer parse_initializer(const std::string& text, const std::string& where) {
  return parse_in(initializer_names(), text, where, "initializer");
}

std::vector<std::string> default_layer_names(const std::vector<LayerType>& types) {
  int dense_total = 0;
  for (LayerType t : types) dense_total += t == LayerType::kDense;
  std::vector<std::string> names;
  int conv = 0, pool = 0, global = 0, norm = 0, dropout = 0, flatten = 0, dense = 0, scale = 0;
  for (LayerType t : types) {
    switch (t) {
      case LayerType::kConv2d:
        names.push_back(fmt::format("Conv{}", ++conv));
        break;
      case LayerType::kMaxPool:
      case LayerType::kAvgPool:
        names.push_back(fmt::format("Pool{}", ++pool));
        break;
      case LayerType::kGlobalAvgPool:
      case LayerType::kGlobalMaxPool:
        ++global;
        names.push_back(global == 1 ? "GlobalPool" : fmt::format("GlobalPool{}", global));
        break;
      case LayerType::kBatchNorm:
        names.push_back(fmt::format("BatchNorm{}", ++norm));
        break;
      case LayerType::kDropout:
        names.push_back(fmt::format("Dropout{}", ++dropout));
        break;
      case LayerType::kFlatten:
        ++flatten;
        names.push_back(flatten == 1 ? "Flatten" : fmt::format("Flatten{}", flatten));
        break;
      case LayerType::kDense:
        ++dense;
        if (dense == dense_total) {
          names.push_back("Output");
        } else {
          names.push_back(dense_total == 2 ? "Dense" : fmt::format("Dense{}", dense));
        }
        break;
      case LayerType::kRescaling:
        names.push_back(fmt::format("Rescaling{}", ++scale));
        break;
    }
  }
  return names;
}

std::vector<LayerShape> infer_shapes(const ModelSpec& spec) {
  for (int64_t d : spec.input) {
    if (d <= 0 || d > kMaxLayerSize) {
      throw ConfigError(fmt::format("model.input: expected sizes from 1 to {}, found {}",
                                    kMaxLayerSize,
                                    shape_text({spec.input.begin(), spec.input.end()})));
    }
  }
  if (spec.layers.empty()) throw ConfigError("model.layers: the model has no layers");
  std::vector<int64_t> shape(spec.input.begin(), spec.input.end());
  std::vector<LayerShape> shapes;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& layer = spec.layers[i];
    const std::string where = fmt::format("model.layers[{}] ({})", i, layer.name);
    if (layer.name.empty()) throw ConfigError(where + ": the layer has no name");
    if (!seen.insert(layer.name).second) {
      throw ConfigError(fmt::format("{}: the name '{}' is used twice", where, layer.name));
    }
    if (layer.l2 < 0)
      throw ConfigError(fmt::format("{}: l2 must be ≥ 0, found {}", where, layer.l2));
    if (!(layer.lr_multiplier >= 0) || layer.trainable_epochs < 0) {
      throw ConfigError(
          fmt::format("{}: expected lr_multiplier ≥ 0 and trainable_epochs ≥ 0, found {} and {}",
                      where, layer.lr_multiplier, layer.trainable_epochs));
    }
    if (layer.type == LayerType::kDense && (layer.kernel_initializer == Initializer::kDirac ||
                                            layer.kernel_initializer == Initializer::kWhitening)) {
      throw ConfigError(fmt::format("{}: kernel_initializer '{}' is for conv2d layers", where,
                                    initializer_name(layer.kernel_initializer)));
    }
    for (int64_t size : {layer.filters, layer.units, layer.kernel[0], layer.kernel[1],
                         layer.stride[0], layer.stride[1]}) {
      if (size > kMaxLayerSize) {
        throw ConfigError(
            fmt::format("{}: {} is more than the {} filters, units, kernel or "
                        "stride sizes a layer may have",
                        where, size, kMaxLayerSize));
      }
    }
    // Sizes are bounded, but their products may still not fit: parameter counts are checked.
    const auto times = [&](int64_t a, int64_t b) {
      int64_t product = 0;
      if (__builtin_mul_overflow(a, b, &product) || product > kMaxLayerParams) {
        throw ConfigError(fmt::format("{}: the layer would have more than {} parameters", where,
                                      kMaxLayerParams));
      }
      return product;
    };
    LayerShape out;
    const bool spatial = shape.size() == 3;
    switch (layer.type) {
      case LayerType::kConv2d:
      case LayerType::kMaxPool:
      case LayerType::kAvgPool: {
        if (!spatial) {
          throw ConfigError(
              fmt::format("{}: expected a [channels, height, width] input, found {} "
                          "(after a flatten or dense layer)",
                          where, shape_text(shape)));
        }
        const bool conv = layer.type == LayerType::kConv2d;
        if (conv && layer.filters <= 0) {
          throw ConfigError(fmt::format("{}: filters must be > 0, found {}", where, layer.filters));
        }
        for (int d = 0; d < 2; ++d) {
          if (layer.kernel[d] <= 0 || layer.stride[d] <= 0) {
            throw ConfigError(fmt::format(
                "{}: kernel and stride must be > 0, found kernel {}x{} "
                "stride {}x{}",
                where, layer.kernel[0], layer.kernel[1], layer.stride[0], layer.stride[1]));
          }
        }
        const int64_t h = shape[1], w = shape[2];
        if (layer.padding == Padding::kValid && (layer.kernel[0] > h || layer.kernel[1] > w)) {
          throw ShapeError(fmt::format("{}: {} {}x{} is larger than its input {}x{}", where,
                                       conv ? "kernel" : "pool window", layer.kernel[0],
                                       layer.kernel[1], h, w));
        }
        const int64_t oh = window_output(h, layer.kernel[0], layer.stride[0], layer.padding);
        const int64_t ow = window_output(w, layer.kernel[1], layer.stride[1], layer.padding);
        if (layer.padding == Padding::kSame) {
          const auto [top, bottom] = same_padding(h, layer.kernel[0], layer.stride[0]);
          const auto [left, right] = same_padding(w, layer.kernel[1], layer.stride[1]);
          out.pad = {left, right, top, bottom};
        }
        const int64_t channels = conv ? layer.filters : shape[0];
        const int64_t patch = shape[0] * layer.kernel[0] * layer.kernel[1];
        if (conv && layer.kernel_initializer == Initializer::kWhitening && layer.filters != patch &&
            layer.filters != 2 * patch) {
          throw ConfigError(fmt::format(
              "{}: a whitening kernel has one filter per value of a {}x{}x{} patch, or two (each "
              "with its negative): expected filters = {} or {}, found {}",
              where, shape[0], layer.kernel[0], layer.kernel[1], patch, 2 * patch, layer.filters));
        }
        out.output = {channels, oh, ow};
        if (conv) {
          const int64_t kernel =
              times(times(times(layer.filters, shape[0]), layer.kernel[0]), layer.kernel[1]);
          const int64_t bias = layer.use_bias ? layer.filters : 0;
          out.params = kernel + bias;
          out.trainable_params = trainable_count(layer, kernel, bias);
        }
        break;
      }
      case LayerType::kBatchNorm: {
        if (!(layer.momentum >= 0 && layer.momentum <= 1) || !(layer.epsilon > 0)) {
          throw ConfigError(fmt::format(
              "{}: expected momentum in [0, 1] and epsilon > 0, found momentum {} and epsilon {}",
              where, layer.momentum, layer.epsilon));
        }
        out.output = shape;
        // Keras counts what the layer has: γ and β where learnt, and the two running statistics.
        const int64_t learnt = (layer.center ? shape[0] : 0) + (layer.scale ? shape[0] : 0);
        out.trainable_params = layer.trainable ? learnt : 0;
        out.params = learnt + 2 * shape[0];
        break;
      }
      case LayerType::kRescaling:
        out.output = shape;
        break;
      case LayerType::kDropout: {
        if (!(layer.rate >= 0 && layer.rate < 1)) {
          throw ConfigError(
              fmt::format("{}: rate must lie in [0, 1), found {}", where, layer.rate));
        }
        out.output = shape;
        break;
      }
      case LayerType::kGlobalAvgPool:
      case LayerType::kGlobalMaxPool: {
        if (!spatial) {
          throw ConfigError(
              fmt::format("{}: expected a [channels, height, width] input, found {} "
                          "(after a flatten or dense layer)",
                          where, shape_text(shape)));
        }
        out.output = {shape[0]};
        break;
      }
      case LayerType::kFlatten: {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        out.output = {n};
        break;
      }
      case LayerType::kDense: {
        if (spatial) {
          throw ConfigError(fmt::format(
              "{}: a dense layer needs a flat input, found {}: add a flatten layer before it",
              where, shape_text(shape)));
        }
        const bool last = i + 1 == spec.layers.size();
        const int64_t units = layer.units > 0 ? layer.units : (last ? spec.num_classes : 0);
        if (units <= 0) {
          throw ConfigError(fmt::format("{}: units must be > 0, found {}", where, layer.units));
        }
        out.output = {units};
        const int64_t kernel = times(shape[0], units);
        const int64_t bias = layer.use_bias ? units : 0;
        out.params = kernel + bias;
        out.trainable_params = trainable_count(layer, kernel, bias);
        break;
      }
    }
    for (int64_t d : out.output) {
      if (d <= 0) {
        throw ShapeError(fmt::format("{}: the output shrinks to nothing ({}) from input {}", where,
                                     shape_text(out.output), shape_text(shape)));
      }
    }
    shape = out.output;
    shapes.push_back(out);
  }
  const LayerSpec& last = spec.layers.back();
  if (last.type != LayerType::kDense) {
    throw ConfigError(fmt::format("model.layers: the last layer ({}) must be dense, found {}",
                                  last.name, layer_type_name(last.type)));
  }
  if (shape[0] != spec.num_classes) {
    throw ConfigError(
        fmt::format("model.layers: the last layer ({}) has {} units, but the dataset "
                    "has {} classes",
                    last.name, shape[0], spec.num_classes));
  }
  return shapes;
}

std::string architecture_fingerprint(const ModelSpec& spec) {
  std::string text = fmt::format("input={}x{}x{};classes={}", spec.input[0], spec.input[1],
                                 spec.input[2], spec.num_classes);
  const auto shapes = infer_shapes(spec);
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    text += fmt::format("|{}:{}:{}:k{}x{}:s{}x{}:{}:{}:bias{}", l.name, layer_type_name(l.type),
                        shape_text(shapes[i].output), l.kernel[0], l.kernel[1], l.stride[0],
                        l.stride[1], padding_name(l.padding), activation_name(l.activation),
                        l.use_bias ? 1 : 0);
    // Written only for the newer order, so checkpoints of older runs keep their fingerprint.
    if (l.type == LayerType::kFlatten && l.data_format == DataFormat::kChannelsLast) {
      text += ":channels_last";
    }
    // Likewise batch norm's options other than Keras' defaults, and rescaling's factors.
    if (l.type == LayerType::kBatchNorm &&
        (l.momentum != 0.99 || l.epsilon != 1e-3 || !l.center || !l.scale)) {
      text +=
          fmt::format(":m{}:e{}:c{}:s{}", l.momentum, l.epsilon, l.center ? 1 : 0, l.scale ? 1 : 0);
    }
    if (l.type == LayerType::kRescaling) text += fmt::format(":x{}+{}", l.scale_factor, l.offset);
  }
  return text;
}

bool layer_takes_option(LayerType type, const std::string& option) {
  static const std::map<LayerType, std::set<std::string>> kOptions{
      {LayerType::kConv2d,
       {"filters", "kernel", "stride", "padding", "activation", "l2", "use_bias",
        "kernel_initializer", "trainable", "kernel_trainable", "trainable_epochs",
        "lr_multiplier"}},
      {LayerType::kMaxPool, {"size", "stride", "padding"}},
      {LayerType::kAvgPool, {"size", "stride", "padding"}},
      {LayerType::kBatchNorm,
       {"momentum", "epsilon", "center", "scale", "activation", "trainable", "trainable_epochs",
        "lr_multiplier"}},
      {LayerType::kRescaling, {"scale", "offset"}},
      {LayerType::kGlobalAvgPool, {}},
      {LayerType::kGlobalMaxPool, {}},
      {LayerType::kFlatten, {"data_format"}},
      {LayerType::kDropout, {"rate"}},
      {LayerType::kDense,
       {"units", "activation", "l2", "use_bias", "kernel_initializer", "trainable",
        "kernel_trainable", "trainable_epochs", "lr_multiplier"}},
  };
  if (option == "type" || option == "name") return true;
  return kOptions.at(type).count(option) > 0;
}

}  // namespace cnnlab
