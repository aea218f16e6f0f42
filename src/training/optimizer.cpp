#include "cnnlab/training/optimizer.h"

#include <fmt/format.h>

#include "cnnlab/error.h"

namespace cnnlab {

const char* optimizer_name(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kAdam:
      return "adam";
    case OptimizerKind::kAdamW:
      return "adamw";
    case OptimizerKind::kSgd:
      return "sgd";
  }
  return "?";
}

OptimizerKind parse_optimizer(const std::string& text, const std::string& where) {
  for (auto kind : {OptimizerKind::kAdam, OptimizerKind::kAdamW, OptimizerKind::kSgd}) {
    if (text == optimizer_name(kind)) return kind;
  }
  throw ConfigError(
      fmt::format("{}: unknown optimizer '{}': expected one of adam, adamw, sgd", where, text));
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerOptions& o,
                                                        const std::vector<torch::Tensor>& params) {
  if (!(o.lr() > 0))
    throw ConfigError(fmt::format("train.lr: expected a value > 0, found {}", o.lr()));
  if (o.weight_decay() < 0) {
    throw ConfigError(
        fmt::format("train.weight_decay: expected a value ≥ 0, found {}", o.weight_decay()));
  }
  if (!(o.beta1() >= 0 && o.beta1() < 1) || !(o.beta2() >= 0 && o.beta2() < 1)) {
    throw ConfigError(
        fmt::format("train.beta1 / train.beta2: expected values in [0, 1), found {} and {}",
                    o.beta1(), o.beta2()));
  }
  if (!(o.eps() > 0))
    throw ConfigError(fmt::format("train.eps: expected a value > 0, found {}", o.eps()));
  switch (o.kind()) {
    case OptimizerKind::kAdam:
      return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(o.lr())
                                                              .betas({o.beta1(), o.beta2()})
                                                              .eps(o.eps())
                                                              .weight_decay(o.weight_decay()));
    case OptimizerKind::kAdamW:
      return std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(o.lr())
                                                               .betas({o.beta1(), o.beta2()})
                                                               .eps(o.eps())
                                                               .weight_decay(o.weight_decay()));
    case OptimizerKind::kSgd:
      if (o.momentum() < 0) {
        throw ConfigError(
            fmt::format("train.momentum: expected a value ≥ 0, found {}", o.momentum()));
      }
      if (o.nesterov() && o.momentum() == 0) {
        throw ConfigError("train.nesterov: Nesterov momentum needs train.momentum > 0");
      }
      return std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(o.lr())
                                                             .momentum(o.momentum())
                                                             .nesterov(o.nesterov())
                                                             .weight_decay(o.weight_decay()));
  }
  throw ConfigError("train.optimizer: unknown optimizer");
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace cnnlab
