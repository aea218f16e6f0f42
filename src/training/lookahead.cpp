#include "cnnlab/training/lookahead.h"

#include <fmt/format.h>

#include <cmath>

#include "cnnlab/error.h"

namespace cnnlab {

void validate(const LookaheadOptions& options) {
  if (options.every() < 0 || !(options.decay() >= 0 && options.decay() <= 1)) {
    throw ConfigError(
        fmt::format("train.lookahead_every / train.lookahead_decay: expected steps ≥ 0 and a "
                    "decay in [0, 1], found {} and {}",
                    options.every(), options.decay()));
  }
}

std::vector<torch::Tensor> averaged_weights(NetworkImpl& network) {
  std::vector<torch::Tensor> weights = network.parameters();
  for (const auto& buffer : network.buffers()) {
    if (buffer.is_floating_point()) weights.push_back(buffer);
  }
  return weights;
}

void Lookahead::start(NetworkImpl& network) {
  if (!enabled() || !slow_.empty()) return;
  torch::NoGradGuard no_grad;
  for (const auto& w : averaged_weights(network)) slow_.push_back(w.detach().clone());
}

void Lookahead::after_step(NetworkImpl& network, int64_t step, int64_t total) {
  if (!enabled()) return;
  start(network);
  torch::NoGradGuard no_grad;
  auto fast = averaged_weights(network);
  if (step % options_.every() == 0) {
    const double progress =
        static_cast<double>(step) / static_cast<double>(std::max<int64_t>(total, 1));
    const double decay = options_.decay() * std::pow(progress, 3);
    for (std::size_t i = 0; i < fast.size(); ++i) {
      slow_[i].lerp_(fast[i], 1 - decay);
      fast[i].copy_(slow_[i]);
    }
  } else if (step == total) {
    for (std::size_t i = 0; i < fast.size(); ++i) fast[i].copy_(slow_[i]);
  }
}

}  // namespace cnnlab
