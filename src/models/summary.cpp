#include "cnnlab/models/summary.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>

namespace cnnlab {

namespace {

// Keras 2's layout for a Sequential model: 65 characters, columns ending at 29, 55 and 65.
constexpr std::size_t kLineLength = 65;
constexpr std::array<std::size_t, 3> kPositions{29, 55, 65};

// One row as Keras' print_row writes it: each field cut to its column (less two spaces between
// columns and one to align them), the rest carried to further lines, a cut made early after
// "),", "},", "]," or "'," where the part that fits has one.
std::string keras_row(std::array<std::string, 3> fields) {
  std::string out;
  const auto pending = [&fields] {
    return std::any_of(fields.begin(), fields.end(), [](const auto& f) { return !f.empty(); });
  };
  while (pending()) {
    std::string line;
    for (std::size_t col = 0; col < fields.size(); ++col) {
      const std::size_t start = col == 0 ? 0 : kPositions[col - 1];
      const bool last = col == fields.size() - 1;
      const std::size_t space = last ? 0 : 2;
      std::size_t cutoff = kPositions[col] - start - space - (last ? 0 : 1);
      std::string fits = fields[col].substr(0, cutoff);
      std::size_t early = std::string::npos;
      for (const char* mark : {"),", "},", "],", "',"}) {
        const auto at = fits.find(mark);
        if (at != std::string::npos) early = std::min(early, at + 2);
      }
      if (early != std::string::npos) {
        cutoff = early;
        fits = fits.substr(0, cutoff);
      }
      if (col == 0) line += ' ';
      line += fits + std::string(space, ' ');
      fields[col] = fields[col].size() > cutoff ? fields[col].substr(cutoff) : std::string();
      if (line.size() < kPositions[col]) line += std::string(kPositions[col] - line.size(), ' ');
    }
    out += line + "\n";
  }
  return out;
}

// Keras' readable_memory_size: bytes scaled by 1024 until under 1024, two decimals.
std::string readable_memory_size(double bytes) {
  static const std::array<const char*, 6> kUnits{"Byte", "KB", "MB", "GB", "TB", "PB"};
  for (const char* unit : kUnits) {
    if (bytes / 1024 < 1) return fmt::format("{:.2f} {}", bytes, unit);
    bytes /= 1024;
  }
  return fmt::format("{:.2f} {}", bytes, kUnits.back());
}

// An output shape as Keras prints it: channels last, None for the batch.
std::string keras_shape(const std::vector<int64_t>& shape) {
  if (shape.size() == 3) return fmt::format("(None, {}, {}, {})", shape[1], shape[2], shape[0]);
  return fmt::format("(None, {})", fmt::join(shape, ", "));
}

}  // namespace

std::string model_summary(const ModelSpec& spec, const std::string& model_name) {
  const auto shapes = infer_shapes(spec);
  std::string out = fmt::format("Model: \"{}\"\n", model_name);
  const std::string thin(kLineLength, '_'), thick(kLineLength, '=');
  out += thin + "\n";
  out += keras_row({"Layer (type)", "Output Shape", "Param #"});
  out += thick + "\n";
  int64_t total = 0, trainable = 0;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const auto& layer = spec.layers[i];
    out += keras_row({fmt::format("{} ({})", layer.name, layer_keras_name(layer.type)),
                      keras_shape(shapes[i].output), std::to_string(shapes[i].params)});
    out += std::string(kLineLength, ' ') + "\n";
    total += shapes[i].params;
    trainable += shapes[i].trainable_params;
  }
  // Parameters are float32: four bytes each.
  const auto count = [](int64_t n) {
    return fmt::format("{} ({})", n, readable_memory_size(4.0 * static_cast<double>(n)));
  };
  out += thick + "\n";
  out += fmt::format("Total params: {}\n", count(total));
  out += fmt::format("Trainable params: {}\n", count(trainable));
  out += fmt::format("Non-trainable params: {}\n", count(total - trainable));
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
