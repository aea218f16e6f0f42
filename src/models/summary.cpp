#include "cnnlab/models/summary.h"

#include <fmt/format.h>

namespace cnnlab {

namespace {
constexpr int kNameWidth = 30;
constexpr int kShapeWidth = 26;
constexpr int kLineWidth = 70;

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(i, ",");
  return digits;
}
}  // namespace

std::string model_summary(const ModelSpec& spec, const std::string& model_name) {
  const auto shapes = infer_shapes(spec);
  std::string out = fmt::format("Model: \"{}\"\n", model_name);
  const std::string thin(kLineWidth, '_'), thick(kLineWidth, '=');
  out += thin + "\n";
  out += fmt::format(" {:<{}}{:<{}}{}\n", "Layer (type)", kNameWidth, "Output Shape", kShapeWidth,
                     "Param #");
  out += thick + "\n";
  int64_t total = 0, trainable = 0;
  out += fmt::format(" {:<{}}{:<{}}{}\n", "Input (InputLayer)", kNameWidth,
                     fmt::format("(None, {}, {}, {})", spec.input[0], spec.input[1], spec.input[2]),
                     kShapeWidth, 0);
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const auto& layer = spec.layers[i];
    const auto& shape = shapes[i];
    const std::string name = fmt::format("{} ({})", layer.name, layer_keras_name(layer.type));
    const std::string dims = fmt::format("(None, {})", fmt::join(shape.output, ", "));
    out += fmt::format(" {:<{}}{:<{}}{}\n", name, kNameWidth, dims, kShapeWidth,
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

}  // namespace cnnlab
