#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "cnnlab/models/network.h"

namespace cnnlab {

/// Lookahead over an exponential moving average of the weights, as Keller Jordan's airbench
/// trains CIFAR-10: a slow copy of the weights (parameters and floating-point buffers, batch
/// norm's statistics included) follows the trained ones. Every `every` steps, at global step t of
/// T, the slow weights move toward the fast ones, slow ← slow + (1 − d_t)·(fast − slow) with
/// d_t = decay·(t/T)³ (no averaging early, more toward the end), and training goes on from the
/// slow weights. The run ends on the slow weights.
struct LookaheadOptions {
  /// Steps between updates (0: off).
  TORCH_ARG(int64_t, every) = 0;
  /// The share of the slow weights kept at the last step (airbench: 0.95⁵ over 5 steps).
  TORCH_ARG(double, decay) = 0.7737809375;
};

/// Throws ConfigError naming train.lookahead_every / train.lookahead_decay when out of range.
void validate(const LookaheadOptions& options);

/// The weights lookahead averages, in a fixed order: parameters, then floating-point buffers.
std::vector<torch::Tensor> averaged_weights(NetworkImpl& network);

/// The slow weights of a run and their update.
class Lookahead {
 public:
  explicit Lookahead(LookaheadOptions options) : options_(options) {}
  bool enabled() const { return options_.every() > 0; }
  /// The slow weights: empty until the first step (then a copy of the starting weights).
  const std::vector<torch::Tensor>& slow() const { return slow_; }
  /// Restores slow weights saved by a checkpoint (empty: start from the current weights).
  void restore(std::vector<torch::Tensor> slow) { slow_ = std::move(slow); }
  /// Call with the weights before the first step of a run.
  void start(NetworkImpl& network);
  /// Call after global step `step` (1-based) of `total`: updates where one is due, and at the
  /// last step puts the slow weights in place.
  void after_step(NetworkImpl& network, int64_t step, int64_t total);

 private:
  LookaheadOptions options_;
  std::vector<torch::Tensor> slow_;
};

}  // namespace cnnlab
