#include "cnnlab/analysis/saliency.h"

#include <ATen/CPUGeneratorImpl.h>

namespace cnnlab {

torch::Tensor saliency_map(Network& network, const torch::Tensor& image, int64_t target_class,
                           const SaliencyOptions& options) {
  TORCH_CHECK(image.dim() == 3, "saliency_map expects one [C, H, W] image, got ", image.sizes());
  TORCH_CHECK(options.samples() >= 1, "saliency_map: samples must be ≥ 1");
  const bool was_training = network->is_training();
  network->eval();
  auto input = image.unsqueeze(0).detach().expand({options.samples(), -1, -1, -1}).clone();
  if (options.samples() > 1) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(options.seed());
    const double range = (image.max() - image.min()).item<double>();
    input += at::normal(0.0, options.noise() * range, input.sizes(), generator);
  }
  const auto parameters = network->parameters();
  if (!parameters.empty()) input = input.to(parameters.front().device());
  input.requires_grad_(true);
  const auto logits = network->forward(input);
  TORCH_CHECK(target_class >= 0 && target_class < logits.size(1), "saliency_map: class ",
              target_class, " outside [0, ", logits.size(1), ")");
  const auto grad =
      torch::autograd::grad({logits.select(1, target_class).sum()}, {input})[0].detach();
  if (was_training) network->train();
  auto map = std::get<0>(grad.abs().max(1)).mean(0);
  const double peak = map.max().item<double>();
  if (peak > 0) map = map / peak;
  return map.to(torch::kCPU).contiguous();
}

}  // namespace cnnlab
