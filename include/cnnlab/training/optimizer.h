#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
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
  /// Adam and AdamW: where ε goes. false (PyTorch): after bias correction,
  /// m̂ / (√v̂ + ε). true (Keras): to the square root of the uncorrected second moment,
  /// lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m / (√v + ε), Keras' "epsilon hat". Updates in Keras' form run
  /// through MultiTensorStep on every device.
  TORCH_ARG(bool, keras_epsilon) = false;
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

/// The key of a parameter in torch::optim::Optimizer::state() (its TensorImpl's address, as text
/// in LibTorch 1.x and as the pointer itself in 2.x).
using OptimizerStateKey =
    std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;
OptimizerStateKey optimizer_state_key(const torch::Tensor& parameter);

/// Whether `schema` is the fused kernel's (`aten::_fused_adam_.tensor_lr` and its AdamW and SGD
/// siblings) with the arguments, in the order, that MultiTensorStep passes: a LibTorch whose
/// kernel takes others gets the multi-tensor path instead.
bool fused_schema_matches(const c10::FunctionSchema& schema, OptimizerKind kind);

/// Runs an optimizer's update over all parameters at once instead of one parameter at a time:
/// LibTorch's multi-tensor (`_foreach_*`) operations, or on CUDA, where LibTorch has them
/// (2.x), its fused Adam, AdamW and SGD kernels, one launch for every parameter. The state lives
/// in the torch::optim optimizer itself (moments, momentum buffers, step counts), so checkpoints
/// and a later optimizer.step() see the same state. Updates agree with optimizer.step() (the
/// multi-tensor path to the last bit on the CPU; the fused kernels to rounding).
///
/// Parameters without a gradient are left alone. Adam and AdamW with amsgrad use
/// optimizer.step(). Should the first fused step fail (a LibTorch whose kernel differs), a
/// warning says so and the multi-tensor path takes over.
class MultiTensorStep {
 public:
  /// `optimizer` must be one make_optimizer() built, and outlive this object.
  MultiTensorStep(torch::optim::Optimizer& optimizer, OptimizerOptions options);

  /// Whether the step runs fused kernels.
  bool fused() const { return fused_; }
  /// Whether step(lr tensor) can be replayed from a CUDA graph: fused, with the learning rate
  /// and step counts read on the device. Not in Keras' epsilon form: its ε for the fused kernel
  /// changes with every step, which a captured graph would freeze.
  bool capturable() const { return fused_ && !options_.keras_epsilon(); }

  /// One update with learning rate `lr`.
  void step(double lr);
  /// One update reading the learning rate from `lr` (a one-element float32 tensor on the
  /// parameters' device), for capture in a CUDA graph. `count_on_host`: also advance the step
  /// counts the checkpoint saves (false while capturing: the replays count, with
  /// count_replayed_step()).
  void step(const torch::Tensor& lr, bool count_on_host = true);
  /// Advances the host's step counts by one, for a step replayed from a captured graph.
  void count_replayed_step();

  /// Where a warning goes (a fused kernel that failed, replaced by the multi-tensor update).
  void on_warning(std::function<void(const std::string&)> warn) { warn_ = std::move(warn); }

  /// Forgets the device copies of the step counts: call after the optimizer's state is replaced
  /// (a checkpoint loaded).
  void reset() { step_tensors_.clear(); }

 private:
  struct Lists;
  Lists gather(bool create_state);
  void fused_step(const Lists& lists, const c10::IValue& lr, bool count_on_host);
  void foreach_step(const Lists& lists, double lr);
  double fused_epsilon(const Lists& lists) const;

  torch::optim::Optimizer& optimizer_;
  OptimizerOptions options_;
  bool fused_ = false;
  bool fused_ran_ = false;  // a fused step has succeeded: later errors are not the kernel's API
  std::function<void(const std::string&)> warn_;
  std::vector<torch::Tensor> step_tensors_;  // fused Adam(W): float32 step counts on the device
};

}  // namespace cnnlab
