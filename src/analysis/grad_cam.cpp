#include "cnnlab/analysis/grad_cam.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <optional>

#include "cnnlab/error.h"

namespace cnnlab {

std::size_t grad_cam_layer(const ModelSpec& spec, const std::string& name,
                           const std::string& where) {
  const auto shapes = infer_shapes(spec);
  std::vector<std::string> spatial;
  std::optional<std::size_t> last_conv;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    if (shapes[i].output.size() != 3) continue;
    spatial.push_back(spec.layers[i].name);
    if (spec.layers[i].type == LayerType::kConv2d) last_conv = i;
    if (!name.empty() && spec.layers[i].name == name) return i;
  }
  if (name.empty() && last_conv) {
    std::size_t layer = *last_conv;
    while (layer + 1 < spec.layers.size() &&
           (spec.layers[layer + 1].type == LayerType::kBatchNorm ||
            spec.layers[layer + 1].type == LayerType::kDropout) &&
           shapes[layer + 1].output.size() == 3) {
      ++layer;
    }
    return layer;
  }
  if (name.empty()) {
    throw ConfigError(
        fmt::format("{}: Grad-CAM needs a conv layer, and the model has none", where));
  }
  const bool exists = std::any_of(spec.layers.begin(), spec.layers.end(),
                                  [&](const LayerSpec& layer) { return layer.name == name; });
  const std::string problem = exists ? fmt::format("layer '{}' has no feature maps", name)
                                     : fmt::format("no layer named '{}'", name);
  if (spatial.empty()) {
    throw ConfigError(fmt::format("{}: {}, and no layer of the model has any", where, problem));
  }
  throw ConfigError(
      fmt::format("{}: {}; expected one of {}", where, problem, fmt::join(spatial, ", ")));
}

torch::Tensor grad_cam(Network& network, const torch::Tensor& image, int64_t target_class,
                       std::size_t layer) {
  TORCH_CHECK(image.dim() == 3, "grad_cam expects one [C, H, W] image, got ", image.sizes());
  TORCH_CHECK(layer < network->spec().layers.size(), "grad_cam: layer ", layer, " outside [0, ",
              network->spec().layers.size(), ")");
  const bool was_training = network->is_training();
  network->eval();
  torch::AutoGradMode grad_mode(true);
  const auto parameters = network->parameters();
  const auto device = parameters.empty() ? torch::Device(torch::kCPU) : parameters.front().device();
  std::vector<torch::Tensor> activations;
  const auto logits =
      network->forward(image.detach().to(device, torch::kFloat32).unsqueeze(0), &activations);
  if (was_training) network->train();
  TORCH_CHECK(target_class >= 0 && target_class < logits.size(1), "grad_cam: class ", target_class,
              " outside [0, ", logits.size(1), ")");
  const auto& maps = activations[layer];
  TORCH_CHECK(maps.dim() == 4, "grad_cam: layer ", network->spec().layers[layer].name, " outputs ",
              maps.sizes(), ", not feature maps");
  // Every layer of a sequential network feeds the output, so the gradient always exists.
  const auto grad =
      torch::autograd::grad({logits.select(1, target_class).sum()}, {maps})[0].to(torch::kFloat32);
  auto cam =
      torch::relu((grad.mean({2, 3}, true) * maps.detach().to(torch::kFloat32)).sum(1, true));
  namespace F = torch::nn::functional;
  cam = F::interpolate(cam, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{image.size(1), image.size(2)})
                                .mode(torch::kBilinear)
                                .align_corners(false))[0][0];
  const double peak = cam.max().item<double>();
  if (peak > 0) cam = cam / peak;
  return cam.to(torch::kCPU).contiguous();
}

}  // namespace cnnlab
