#include "cnnlab/analysis/feature_maps.h"

namespace cnnlab {

std::vector<FeatureMap> conv_feature_maps(Network& network, const torch::Tensor& image) {
  TORCH_CHECK(image.dim() == 3, "conv_feature_maps expects one [C, H, W] image, got ",
              image.sizes());
  torch::NoGradGuard no_grad;
  const bool was_training = network->is_training();
  network->eval();
  std::vector<torch::Tensor> activations;
  const auto parameters = network->parameters();
  const auto device = parameters.empty() ? torch::Device(torch::kCPU) : parameters.front().device();
  network->forward(image.unsqueeze(0).to(device), &activations);
  if (was_training) network->train();
  std::vector<FeatureMap> maps;
  const auto& layers = network->spec().layers;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].type != LayerType::kConv2d) continue;
    maps.push_back({layers[i].name, activations[i][0].to(torch::kCPU).contiguous()});
  }
  return maps;
}

}  // namespace cnnlab
