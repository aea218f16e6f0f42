#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace cnnlab {

enum class OptimizerKind { kAdam, kAdamW, kSgd };

const char* optimizer_name(OptimizerKind kind);
/// Throws ConfigError naming `where` and the accepted values.
OptimizerKind parse_optimizer(const std::string& text, const std::string& where);

/// Optimizer settings. Defaults are Keras' (Adam: β₁ 0.9, β₂ 0.999, ε 1e-7).
struct OptimizerOptions {
  TORCH_ARG(OptimizerKind, kind) = OptimizerKind::kAdam;
  /// Peak learning rate; the schedule scales it.
  TORCH_ARG(double, lr) = 1e-3;
  /// Decoupled weight decay for AdamW, coupled (added to the gradient) for Adam and SGD.
  /// Keras' kernel_regularizer is the per-layer `l2` instead.
  TORCH_ARG(double, weight_decay) = 0.0;
  TORCH_ARG(double, beta1) = 0.9;
  TORCH_ARG(double, beta2) = 0.999;
  TORCH_ARG(double, eps) = 1e-7;
  /// SGD only.
  TORCH_ARG(double, momentum) = 0.9;
  TORCH_ARG(bool, nesterov) = false;
};

/// Builds the optimizer over `parameters`. Throws ConfigError for a negative learning rate or
/// another out-of-range option, naming it.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(
    const OptimizerOptions& options, const std::vector<torch::Tensor>& parameters);

/// Sets the learning rate of every parameter group.
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

}  // namespace cnnlab
