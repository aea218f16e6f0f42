#include "cnnlab/models/summary.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace cnnlab {

namespace {
constexpr std::size_t kMinNameWidth = 30;
constexpr std::size_t kShapeWidth = 26;
constexpr std::size_t kParamWidth = 14;

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(i, ",");
  return digits;
}
}  // namespace

std::string model_summary(const ModelSpec& spec, const std::string& model_name) {
  const auto shapes = infer_shapes(spec);
  std::vector<std::string> names;
  // The name column grows with the longest "Name (Type)", so columns never run together.
  std::size_t name_width = kMinNameWidth;
  for (const auto& layer : spec.layers) {
    names.push_back(fmt::format("{} ({})", layer.name, layer_keras_name(layer.type)));
    name_width = std::max(name_width, names.back().size() + 2);
  }
  std::string out = fmt::format("Model: \"{}\"\n", model_name);
  const std::size_t line_width = name_width + kShapeWidth + kParamWidth;
  const std::string thin(line_width, '_'), thick(line_width, '=');
  out += thin + "\n";
  out += fmt::format(" {:<{}}{:<{}}{}\n", "Layer (type)", name_width, "Output Shape", kShapeWidth,
                     "Param #");
  out += thick + "\n";
  int64_t total = 0, trainable = 0;
  out += fmt::format(" {:<{}}{:<{}}{}\n", "Input (InputLayer)", name_width,
                     fmt::format("(None, {}, {}, {})", spec.input[0], spec.input[1], spec.input[2]),
                     kShapeWidth, 0);
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const auto& shape = shapes[i];
    const std::string& name = names[i];
    const std::string dims = fmt::format("(None, {})", fmt::join(shape.output, ", "));
    out += fmt::format(" {:<{}}{:<{}}{}\n", name, name_width, dims, kShapeWidth,
                       with_commas(shape.params));
    total += shape.params;
    trainable += shape.trainable_params;
  }
  out += thick + "\n";
  out += fmt::format("Total params: {}\n", with_commas(total));
  out += fmt::format("Trainable params: {}\n", with_commas(trainable));
  out += fmt::format("Non-trainable params: {}\n", with_commas(total - trainable));
  out += thin + "\n";
  return out;
}

int64_t forward_flops(const ModelSpec& spec) {
  const auto shapes = infer_shapes(spec);
  std::vector<int64_t> in(spec.input.begin(), spec.input.end());
  // Counted in double: a model that infer_shapes accepts may still need more than 2⁶³ FLOPs.
  double flops = 0;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& layer = spec.layers[i];
    const auto& out = shapes[i].output;
    if (layer.type == LayerType::kConv2d) {
      flops += 2.0 * static_cast<double>(layer.kernel[0] * layer.kernel[1] * in[0]) *
               static_cast<double>(out[0]) * static_cast<double>(out[1] * out[2]);
    } else if (layer.type == LayerType::kDense) {
      flops += 2.0 * static_cast<double>(in[0]) * static_cast<double>(out[0]);
    }
    in = out;
  }
  constexpr double kMax = 9.2e18;  // just under 2⁶³
  return static_cast<int64_t>(std::min(flops, kMax));
}

}  // namespace cnnlab
