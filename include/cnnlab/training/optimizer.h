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
  /// SGD only: weight decay decoupled from the learning rate. Each step adds
  /// weight_decay·(lr_t/lr)·w to the momentum's input divided by the group's learning rate, so
  /// every weight loses the same share weight_decay·lr_t/lr of itself per step (through the
  /// momentum), whatever its layer's lr_multiplier and the peak lr: tuning the rate leaves the
  /// decay alone (as in Keller Jordan's airbench). false: PyTorch's coupled weight_decay.
  TORCH_ARG(bool, decoupled_weight_decay) = false;
};

/// Parameters that share a learning rate: the run's times `lr_multiplier`.
struct ParameterGroup {
  std::vector<torch::Tensor> params;
  double lr_multiplier = 1.0;
};

/// Builds the optimizer over `parameters`. Throws ConfigError for a negative learning rate or
/// another out-of-range option, naming it.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(
    const OptimizerOptions& options, const std::vector<torch::Tensor>& parameters);
/// The same over groups of parameters, one torch::optim parameter group each, in order, with
/// learning rate lr·lr_multiplier (and, with decoupled_weight_decay, its weight decay).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerOptions& options,
                                                        const std::vector<ParameterGroup>& groups);
/// Sets the learning rate of every parameter group: lr, times the group's multiplier where
/// `multipliers` gives one per group.
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr,
                       const std::vector<double>& multipliers = {});

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
  /// `optimizer` must be one make_optimizer() built, and outlive this object; `multipliers`
  /// are its groups' learning-rate multipliers (none: all 1). Where they or the groups' weight
  /// decays differ, the update runs per parameter through the multi-tensor path, never fused.
  MultiTensorStep(torch::optim::Optimizer& optimizer, OptimizerOptions options,
                  std::vector<double> multipliers = {});

  /// Whether the step runs fused kernels.
  bool fused() const { return fused_; }
  /// Whether step(lr tensor) can be replayed from a CUDA graph: fused, with the learning rate
  /// and step counts read on the device. Not in Keras' epsilon form: its ε for the fused kernel
  /// changes with every step, which a captured graph would freeze.
  bool capturable() const { return fused_ && !options_.keras_epsilon() && uniform_; }

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
  std::vector<double> multipliers_;
  bool uniform_ = true;  // one learning rate and weight decay for every group
  bool fused_ = false;
  bool fused_ran_ = false;  // a fused step has succeeded: later errors are not the kernel's API
  std::function<void(const std::string&)> warn_;
  std::vector<torch::Tensor> step_tensors_;  // fused Adam(W): float32 step counts on the device
};

}  // namespace cnnlab
