#include "cnnlab/analysis/pictures.h"

namespace cnnlab {

torch::Tensor stretch_to_picture(const torch::Tensor& values) {
  TORCH_CHECK(values.dim() == 2 || values.dim() == 3,
              "stretch_to_picture expects [C, H, W] or [H, W], got ", values.sizes());
  auto v = values.to(torch::kFloat32);
  if (v.dim() == 2) v = v.unsqueeze(0);
  const double lo = v.min().item<double>(), hi = v.max().item<double>();
  if (hi - lo <= 0) return torch::full(v.sizes(), 128, torch::kUInt8);
  return ((v - lo) * (255.0 / (hi - lo))).round_().clamp_(0, 255).to(torch::kUInt8).contiguous();
}

std::vector<torch::Tensor> filter_pictures(const torch::Tensor& kernel) {
  TORCH_CHECK(kernel.dim() == 4, "filter_pictures expects [out, in, kh, kw], got ", kernel.sizes());
  const auto k = kernel.detach().to(torch::kFloat32);
  std::vector<torch::Tensor> pictures;
  for (int64_t o = 0; o < k.size(0); ++o) {
    const auto filter = k.size(1) == 3 ? k[o] : k[o].mean(0);
    pictures.push_back(stretch_to_picture(filter));
  }
  return pictures;
}

torch::Tensor heat_overlay(const torch::Tensor& image, const torch::Tensor& heat) {
  TORCH_CHECK(image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3),
              "heat_overlay expects a [1|3, H, W] image, got ", image.sizes());
  TORCH_CHECK(heat.dim() == 2 && heat.size(0) == image.size(1) && heat.size(1) == image.size(2),
              "heat_overlay: heat ", heat.sizes(), " does not match image ", image.sizes());
  const auto base = image.to(torch::kFloat32).expand({3, image.size(1), image.size(2)}) * 0.6;
  const auto h = heat.to(torch::kFloat32).clamp(0, 1);
  // Red rising first, then green: black → red → yellow as the heat grows.
  const auto colour =
      torch::stack({(h * 2).clamp(0, 1), (h * 2 - 1).clamp(0, 1), torch::zeros_like(h)}) * 255.0;
  const auto alpha = h.unsqueeze(0);
  return (base * (1 - alpha) + colour * alpha)
      .round_()
      .clamp_(0, 255)
      .to(torch::kUInt8)
      .contiguous();
}

}  // namespace cnnlab
