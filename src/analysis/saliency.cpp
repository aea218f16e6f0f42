#include "cnnlab/analysis/saliency.h"

namespace cnnlab {

torch::Tensor saliency_map(Network& network, const torch::Tensor& image, int64_t target_class) {
  TORCH_CHECK(image.dim() == 3, "saliency_map expects one [C, H, W] image, got ", image.sizes());
  const bool was_training = network->is_training();
  network->eval();
  auto input = image.unsqueeze(0).detach().clone().requires_grad_(true);
  const auto logits = network->forward(input);
  TORCH_CHECK(target_class >= 0 && target_class < logits.size(1), "saliency_map: class ",
              target_class, " outside [0, ", logits.size(1), ")");
  const auto grad = torch::autograd::grad({logits[0][target_class]}, {input})[0];
  if (was_training) network->train();
  auto map = std::get<0>(grad[0].abs().max(0));
  const double peak = map.max().item<double>();
  if (peak > 0) map = map / peak;
  return map.contiguous();
}

}  // namespace cnnlab
