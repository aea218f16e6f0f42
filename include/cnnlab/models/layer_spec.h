#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace cnnlab {

enum class LayerType {
  kConv2d,
  kMaxPool,
  kAvgPool,
  kGlobalAvgPool,
  kGlobalMaxPool,
  kBatchNorm,
  kDropout,
  kFlatten,
  kDense
};
enum class Padding { kValid, kSame };
/// The order in which Flatten lays out an image's values (Keras' `data_format`): channels_last is
/// Keras' (height, width, channels), so a Dense layer's weights after it match a Keras model's;
/// channels_first is PyTorch's (channels, height, width), the default of older runs.
enum class DataFormat { kChannelsFirst, kChannelsLast };
enum class Activation { kLinear, kRelu, kLeakyRelu, kElu, kGelu, kSigmoid, kTanh, kSoftmax };

/// One layer of a model as the config file describes it. Fields that a type does not use are
/// ignored by it (a pool has no filters).
struct LayerSpec {
  LayerType type = LayerType::kConv2d;
  /// Unique name; defaults follow the study: Conv1, Conv2, …, Pool1, …, Dense, Output.
  std::string name;
  int64_t filters = 0;                  // conv2d
  int64_t units = 0;                    // dense; 0 on the last dense layer: number of classes
  std::array<int64_t, 2> kernel{3, 3};  // conv2d kernel; pool window
  std::array<int64_t, 2> stride{1, 1};  // conv2d; pools default to their window
  Padding padding = Padding::kValid;
  Activation activation = Activation::kLinear;
  /// Keras' kernel_regularizer=l2(λ): adds λ·Σw² of this layer's kernel (not its bias).
  double l2 = 0.0;
  double rate = 0.0;  // dropout probability
  bool use_bias = true;
  DataFormat data_format = DataFormat::kChannelsFirst;  // flatten
};

/// A whole model: input shape and layers, in order.
struct ModelSpec {
  /// input: [channels, height, width]
  std::array<int64_t, 3> input{1, 28, 28};
  int64_t num_classes = 10;
  std::vector<LayerSpec> layers;
};

/// Shape of one layer's output and its parameter count, as inferred from the spec.
struct LayerShape {
  std::vector<int64_t> output;  // without the batch dimension
  int64_t params = 0;
  int64_t trainable_params = 0;
  /// Keras-style "same" padding on the (left, right, top, bottom) sides; TensorFlow puts the odd
  /// pixel on the right/bottom.
  std::array<int64_t, 4> pad{0, 0, 0, 0};
};

const char* layer_type_name(LayerType type);
/// Keras' class name for summaries: Conv2D, MaxPooling2D, Dense, …
const char* layer_keras_name(LayerType type);
const char* activation_name(Activation activation);
const char* padding_name(Padding padding);
const char* data_format_name(DataFormat format);

/// Parses names as written in config files; throw ConfigError listing the accepted values, with
/// `where` (e.g. "model.layers[2].type") in the message.
LayerType parse_layer_type(const std::string& text, const std::string& where);
Activation parse_activation(const std::string& text, const std::string& where);
Padding parse_padding(const std::string& text, const std::string& where);
DataFormat parse_data_format(const std::string& text, const std::string& where);

/// The study's default names: convolutions Conv1, Conv2, …; pools Pool1, …; batch norms BatchNorm1,
/// …; dropouts Dropout1, …; Flatten; dense layers Dense (or Dense1, Dense2, … if several) and the
/// last dense layer Output.
std::vector<std::string> default_layer_names(const std::vector<LayerType>& types);

/// Whether a layer of `type` has the config option `option` ("kernel", "stride", "rate", …).
bool layer_takes_option(LayerType type, const std::string& option);

/// Output shapes and parameter counts of every layer. Throws ConfigError naming the layer when
/// the model is impossible: a kernel larger than its input, a dense layer after a convolution
/// without flatten being possible, a non-positive size, duplicate names, a last layer that is
/// not dense or whose units differ from num_classes.
std::vector<LayerShape> infer_shapes(const ModelSpec& spec);

/// Largest input size, filter or unit count, kernel or stride infer_shapes accepts (2¹⁶), and
/// largest parameter count of one layer (2³²): beyond, a config is a typo or an attack.
constexpr int64_t kMaxLayerSize = int64_t{1} << 16;
constexpr int64_t kMaxLayerParams = int64_t{1} << 32;

/// A canonical one-line description of the architecture; checkpoints store it to refuse weights
/// from another model.
std::string architecture_fingerprint(const ModelSpec& spec);

}  // namespace cnnlab
