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
  kDense,
  kRescaling
};
enum class Padding { kValid, kSame };
/// The order in which Flatten lays out an image's values (Keras' `data_format`): channels_last is
/// Keras' (height, width, channels), so a Dense layer's weights after it match a Keras model's;
/// channels_first is PyTorch's (channels, height, width), the default of older runs.
enum class DataFormat { kChannelsFirst, kChannelsLast };
enum class Activation { kLinear, kRelu, kLeakyRelu, kElu, kGelu, kSigmoid, kTanh, kSoftmax };
/// How a conv2d or dense layer's kernel starts (Keras' `kernel_initializer`). The uniform ones
/// draw from ±limit: Glorot √(6/(fan_in+fan_out)) (Keras' default), He √(6/fan_in), LeCun
/// √(3/fan_in), PyTorch's default 1/√fan_in. dirac (conv2d): the first min(filters, input
/// channels) filters pass their own input channel through unchanged (a 1 at the kernel's centre,
/// PyTorch's nn.init.dirac_), the others PyTorch's default. whitening (conv2d): computed from
/// the training images before the first step (see whitening_kernel).
enum class Initializer { kGlorotUniform, kHeUniform, kLecunUniform, kPyTorch, kDirac, kWhitening };

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
  DataFormat data_format = DataFormat::kChannelsFirst;           // flatten
  Initializer kernel_initializer = Initializer::kGlorotUniform;  // conv2d, dense
  /// Keras' `layer.trainable`: false freezes every weight of the layer.
  bool trainable = true;
  /// false freezes the kernel alone (conv2d, dense), e.g. a whitening layer whose bias trains.
  bool kernel_trainable = true;
  /// The layer trains during the first N epochs only, then stays frozen (0: throughout).
  int64_t trainable_epochs = 0;
  /// The learning rate of this layer's weights is the run's times this factor.
  double lr_multiplier = 1.0;
  /// batchnorm, with Keras' names and defaults: the running statistics keep `momentum` of their
  /// value at each step; `epsilon` is added to the variance; center/scale: whether the layer
  /// learns its shift β / its scale γ (false: fixed at 0 / 1).
  double momentum = 0.99;
  double epsilon = 1e-3;
  bool center = true;
  bool scale = true;
  /// rescaling (Keras' Rescaling): x·scale_factor + offset.
  double scale_factor = 1.0;
  double offset = 0.0;
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
const char* initializer_name(Initializer initializer);

/// Parses names as written in config files; throw ConfigError listing the accepted values, with
/// `where` (e.g. "model.layers[2].type") in the message.
LayerType parse_layer_type(const std::string& text, const std::string& where);
Activation parse_activation(const std::string& text, const std::string& where);
Padding parse_padding(const std::string& text, const std::string& where);
DataFormat parse_data_format(const std::string& text, const std::string& where);
Initializer parse_initializer(const std::string& text, const std::string& where);

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
