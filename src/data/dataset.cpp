#include "cnnlab/data/dataset.h"

#include <cmath>

#include "cnnlab/error.h"

namespace cnnlab {

Dataset Dataset::slice(int64_t begin, int64_t end) const {
  TORCH_CHECK(0 <= begin && begin <= end && end <= size(), "slice [", begin, ", ", end,
              ") out of range for a dataset of ", size());
  return Dataset{images.slice(0, begin, end), labels.slice(0, begin, end), class_names};
}

std::pair<Dataset, Dataset> validation_split(const Dataset& data, double fraction) {
  if (!(fraction >= 0.0 && fraction < 1.0)) {
    throw ConfigError("data.validation_split: expected a fraction in [0, 1), found " +
                      std::to_string(fraction));
  }
  // Keras: split_at = int(len(x) * (1 - validation_split)).
  const auto split_at = static_cast<int64_t>(static_cast<double>(data.size()) * (1.0 - fraction));
  return {data.slice(0, split_at), data.slice(split_at, data.size())};
}

Normalization channel_statistics(const Dataset& data) {
  torch::NoGradGuard no_grad;
  const int64_t channels = data.channels();
  Normalization norm;
  // Chunked float64 sums keep memory bounded and precision high on large sets.
  std::vector<double> sum(channels, 0.0), sum_sq(channels, 0.0);
  const int64_t chunk = 4096;
  for (int64_t begin = 0; begin < data.size(); begin += chunk) {
    const int64_t end = std::min(begin + chunk, data.size());
    const auto x = data.images.slice(0, begin, end).to(torch::kFloat64).div_(255.0);
    const auto s = x.sum({0, 2, 3});
    const auto s2 = x.pow(2).sum({0, 2, 3});
    for (int64_t c = 0; c < channels; ++c) {
      sum[c] += s[c].item<double>();
      sum_sq[c] += s2[c].item<double>();
    }
  }
  const double count = static_cast<double>(data.size() * data.height() * data.width());
  for (int64_t c = 0; c < channels; ++c) {
    const double mean = sum[c] / count;
    norm.mean.push_back(mean);
    norm.std.push_back(std::sqrt(std::max(sum_sq[c] / count - mean * mean, 1e-12)));
  }
  return norm;
}

torch::Tensor to_unit_float(const torch::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.scalar_type() == torch::kUInt8,
              "expected [B, C, H, W] uint8 images, got ", images.sizes(), " ",
              images.scalar_type());
  return images.to(torch::kFloat32).div_(255.0f);
}

torch::Tensor normalize_(torch::Tensor x, const Normalization& norm) {
  if (!norm.enabled()) return x;
  TORCH_CHECK(static_cast<int64_t>(norm.mean.size()) == x.size(1), "normalisation has ",
              norm.mean.size(), " channels, images have ", x.size(1));
  const auto options = torch::TensorOptions().dtype(torch::kFloat32);
  const auto on_device = [&](const std::vector<double>& values) {
    return torch::tensor(std::vector<float>(values.begin(), values.end()), options)
        .to(x.device(), /*non_blocking=*/true)
        .view({1, -1, 1, 1});
  };
  const auto mean = on_device(norm.mean);
  const auto std = on_device(norm.std);
  return x.sub_(mean).div_(std);
}

torch::Tensor to_network_input(const torch::Tensor& images, const Normalization& norm) {
  return normalize_(to_unit_float(images), norm);
}

}  // namespace cnnlab
