#include "cnnlab/training/optimizer.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>

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
  return make_optimizer(o, std::vector<ParameterGroup>{{params, 1.0}});
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerOptions& o,
                                                        const std::vector<ParameterGroup>& groups) {
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
  if (o.keras_epsilon() && o.kind() == OptimizerKind::kSgd) {
    throw ConfigError(
        "train.eps_form: 'keras' places Adam's epsilon, and train.optimizer is sgd: use adam or "
        "adamw, or remove eps_form");
  }
  if (o.decoupled_weight_decay() && o.kind() != OptimizerKind::kSgd) {
    throw ConfigError(
        "train.weight_decay_form: 'decoupled' is for sgd; Adam's decoupled weight decay is "
        "train.optimizer = \"adamw\"");
  }
  for (const auto& group : groups) {
    if (!(group.lr_multiplier >= 0)) {
      throw ConfigError(
          fmt::format("lr_multiplier: expected a value ≥ 0, found {}", group.lr_multiplier));
    }
  }
  // One torch::optim group per parameter group, with its own learning rate (and weight decay).
  const auto grouped = [&](auto defaults, auto&& set_decay) {
    std::vector<torch::optim::OptimizerParamGroup> param_groups;
    for (const auto& group : groups) {
      auto options = std::make_unique<decltype(defaults)>(defaults);
      options->lr(o.lr() * group.lr_multiplier);
      set_decay(*options, group.lr_multiplier);
      param_groups.emplace_back(group.params, std::move(options));
    }
    return param_groups;
  };
  const auto keep_decay = [](auto&, double) {};
  switch (o.kind()) {
    case OptimizerKind::kAdam: {
      const auto defaults = torch::optim::AdamOptions(o.lr())
                                .betas({o.beta1(), o.beta2()})
                                .eps(o.eps())
                                .weight_decay(o.weight_decay());
      return std::make_unique<torch::optim::Adam>(grouped(defaults, keep_decay), defaults);
    }
    case OptimizerKind::kAdamW: {
      const auto defaults = torch::optim::AdamWOptions(o.lr())
                                .betas({o.beta1(), o.beta2()})
                                .eps(o.eps())
                                .weight_decay(o.weight_decay());
      return std::make_unique<torch::optim::AdamW>(grouped(defaults, keep_decay), defaults);
    }
    case OptimizerKind::kSgd: {
      if (o.momentum() < 0) {
        throw ConfigError(
            fmt::format("train.momentum: expected a value ≥ 0, found {}", o.momentum()));
      }
      if (o.nesterov() && o.momentum() == 0) {
        throw ConfigError("train.nesterov: Nesterov momentum needs train.momentum > 0");
      }
      const auto defaults = torch::optim::SGDOptions(o.lr())
                                .momentum(o.momentum())
                                .nesterov(o.nesterov())
                                .weight_decay(o.weight_decay());
      // Decoupled: the group's decay divided by its learning rate, so that the step, which
      // multiplies both by it, removes weight_decay·w whatever the rate (a frozen group, at
      // rate 0, decays no more than it learns).
      const auto decouple = [&](torch::optim::SGDOptions& options, double multiplier) {
        if (o.decoupled_weight_decay()) {
          options.weight_decay(multiplier > 0 ? o.weight_decay() / (o.lr() * multiplier) : 0.0);
        }
      };
      return std::make_unique<torch::optim::SGD>(grouped(defaults, decouple), defaults);
    }
  }
  throw ConfigError("train.optimizer: unknown optimizer");
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr,
                       const std::vector<double>& multipliers) {
  auto& groups = optimizer.param_groups();
  for (std::size_t i = 0; i < groups.size(); ++i) {
    groups[i].options().set_lr(i < multipliers.size() ? lr * multipliers[i] : lr);
  }
}

namespace {

[[maybe_unused]] std::string state_key(std::string* /*type*/, void* impl) {
  std::ostringstream out;
  out << impl;
  return out.str();
}
[[maybe_unused]] void* state_key(void** /*type*/, void* impl) { return impl; }

const char* fused_operator_name(OptimizerKind kind) {
  return kind == OptimizerKind::kAdam    ? "aten::_fused_adam_"
         : kind == OptimizerKind::kAdamW ? "aten::_fused_adamw_"
                                         : "aten::_fused_sgd_";
}

// LibTorch's fused optimizer kernel for `kind`, where this LibTorch has one (2.x) taking the
// arguments fused_step() passes: looked up by name, so the same source builds against LibTorch
// versions without it.
std::optional<c10::OperatorHandle> fused_operator(OptimizerKind kind) {
  const auto handle = c10::Dispatcher::singleton().findOp({fused_operator_name(kind), "tensor_lr"});
  if (!handle.has_value() || !fused_schema_matches(handle->schema(), kind)) return std::nullopt;
  return *handle;
}

template <typename State>
State& adam_state(torch::optim::Optimizer& optimizer, const torch::Tensor& p, bool create) {
  auto& states = optimizer.state();
  const auto key = optimizer_state_key(p);
  auto found = states.find(key);
  if (found == states.end()) {
    TORCH_CHECK(create, "no optimizer state for a parameter");
    auto state = std::make_unique<State>();
    state->step(0);
    state->exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
    state->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
    found = states.emplace(key, std::move(state)).first;
  }
  return static_cast<State&>(*found->second);
}

}  // namespace

bool fused_schema_matches(const c10::FunctionSchema& schema, OptimizerKind kind) {
  // The arguments fused_step() pushes, in its order.
  static const std::vector<std::string> adam = {
      "self",        "grads",   "exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs",
      "state_steps", "lr",      "beta1",    "beta2",       "weight_decay",
      "eps",         "amsgrad", "maximize", "grad_scale",  "found_inf"};
  static const std::vector<std::string> sgd = {
      "self",     "grads",    "momentum_buffer_list", "weight_decay", "momentum", "lr", "dampening",
      "nesterov", "maximize", "is_first_step",        "grad_scale",   "found_inf"};
  const auto& expected = kind == OptimizerKind::kSgd ? sgd : adam;
  const auto& arguments = schema.arguments();
  if (schema.name() != fused_operator_name(kind) || schema.overload_name() != "tensor_lr" ||
      arguments.size() != expected.size()) {
    return false;
  }
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (arguments[i].name() != expected[i]) return false;
  }
  const auto lr = std::find(expected.begin(), expected.end(), "lr") - expected.begin();
  return arguments[lr].type()->kind() == c10::TypeKind::TensorType;
}

OptimizerStateKey optimizer_state_key(const torch::Tensor& parameter) {
  return state_key(static_cast<OptimizerStateKey*>(nullptr), parameter.unsafeGetTensorImpl());
}

struct MultiTensorStep::Lists {
  std::vector<torch::Tensor> params, grads;
  // Per parameter, where groups differ: its group's learning-rate multiplier and weight decay.
  std::vector<double> multipliers, decays;
  // Adam(W): moments and the steps they have taken; SGD: momentum buffers, where they exist.
  std::vector<torch::Tensor> exp_avgs, exp_avg_sqs, buffers;
  std::vector<torch::optim::OptimizerParamState*> states;
  std::vector<int64_t> steps;
  bool first_sgd_step = false;
};

namespace {

double group_weight_decay(torch::optim::OptimizerOptions& options, OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kAdam:
      return static_cast<torch::optim::AdamOptions&>(options).weight_decay();
    case OptimizerKind::kAdamW:
      return static_cast<torch::optim::AdamWOptions&>(options).weight_decay();
    case OptimizerKind::kSgd:
      return static_cast<torch::optim::SGDOptions&>(options).weight_decay();
  }
  return 0;
}

}  // namespace

MultiTensorStep::MultiTensorStep(torch::optim::Optimizer& optimizer, OptimizerOptions options,
                                 std::vector<double> multipliers)
    : optimizer_(optimizer), options_(std::move(options)), multipliers_(std::move(multipliers)) {
  multipliers_.resize(optimizer_.param_groups().size(), 1.0);
  for (std::size_t i = 0; i < multipliers_.size(); ++i) {
    uniform_ = uniform_ && multipliers_[i] == 1.0 &&
               group_weight_decay(optimizer_.param_groups()[i].options(), options_.kind()) ==
                   options_.weight_decay();
  }
  bool all_cuda = true, any = false;
  for (const auto& group : optimizer_.param_groups()) {
    for (const auto& p : group.params()) {
      any = true;
      all_cuda = all_cuda && p.is_cuda() && p.scalar_type() == torch::kFloat32;
    }
  }
  const bool amsgrad = (options_.kind() == OptimizerKind::kAdam &&
                        static_cast<torch::optim::AdamOptions&>(optimizer_.defaults()).amsgrad()) ||
                       (options_.kind() == OptimizerKind::kAdamW &&
                        static_cast<torch::optim::AdamWOptions&>(optimizer_.defaults()).amsgrad());
  TORCH_CHECK(!amsgrad, "MultiTensorStep: amsgrad is not supported");
  fused_ = any && all_cuda && uniform_ && fused_operator(options_.kind()).has_value();
}

MultiTensorStep::Lists MultiTensorStep::gather(bool create_state) {
  Lists lists;
  const bool sgd = options_.kind() == OptimizerKind::kSgd;
  auto& states = optimizer_.state();
  std::size_t missing = 0;
  auto& groups = optimizer_.param_groups();
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const double decay = group_weight_decay(groups[g].options(), options_.kind());
    for (const auto& p : groups[g].params()) {
      if (!p.grad().defined()) continue;
      lists.params.push_back(p);
      lists.grads.push_back(p.grad());
      if (!uniform_) {
        lists.multipliers.push_back(multipliers_[g]);
        lists.decays.push_back(decay);
      }
      if (sgd) {
        const auto found = states.find(optimizer_state_key(p));
        if (found == states.end()) {
          ++missing;
          lists.buffers.emplace_back();
        } else {
          lists.buffers.push_back(
              static_cast<torch::optim::SGDParamState&>(*found->second).momentum_buffer());
        }
        continue;
      }
      torch::optim::OptimizerParamState* state = nullptr;
      if (options_.kind() == OptimizerKind::kAdam) {
        auto& adam = adam_state<torch::optim::AdamParamState>(optimizer_, p, create_state);
        lists.exp_avgs.push_back(adam.exp_avg());
        lists.exp_avg_sqs.push_back(adam.exp_avg_sq());
        lists.steps.push_back(adam.step());
        state = &adam;
      } else {
        auto& adamw = adam_state<torch::optim::AdamWParamState>(optimizer_, p, create_state);
        lists.exp_avgs.push_back(adamw.exp_avg());
        lists.exp_avg_sqs.push_back(adamw.exp_avg_sq());
        lists.steps.push_back(adamw.step());
        state = &adamw;
      }
      lists.states.push_back(state);
    }
  }
  lists.first_sgd_step = sgd && missing == lists.params.size() && missing > 0;
  if (sgd && missing > 0 && !lists.first_sgd_step) {
    throw std::logic_error("MultiTensorStep: SGD momentum buffers exist for some parameters only");
  }
  return lists;
}

void MultiTensorStep::step(double lr) {
  torch::NoGradGuard no_grad;
  Lists lists = gather(/*create_state=*/true);
  if (lists.params.empty()) return;
  // The kernel takes one ε: in Keras' form, parameters at different steps (one that had no
  // gradient earlier) take the multi-tensor update.
  const bool one_step = std::all_of(lists.steps.begin(), lists.steps.end(),
                                    [&lists](int64_t s) { return s == lists.steps.front(); });
  if (fused_ && (one_step || !options_.keras_epsilon())) {
    try {
      fused_step(lists, c10::IValue(torch::scalar_tensor(lr, lists.params.front().options())),
                 /*count_on_host=*/true);
      fused_ran_ = true;
      return;
    } catch (const c10::Error& e) {
      if (fused_ran_) throw;
      // Nothing was updated: the kernel checks its arguments first.
      if (warn_) {
        warn_(fmt::format(
            "LibTorch's fused optimizer kernel failed ({}); using the multi-tensor update instead",
            torch_error_message(e)));
      }
      fused_ = false;
      step_tensors_.clear();
    }
  }
  foreach_step(lists, lr);
}

void MultiTensorStep::step(const torch::Tensor& lr, bool count_on_host) {
  TORCH_CHECK(capturable(), "a learning rate on the device needs the fused optimizer kernels");
  torch::NoGradGuard no_grad;
  Lists lists = gather(/*create_state=*/true);
  if (lists.params.empty()) return;
  fused_step(lists, c10::IValue(lr), count_on_host);
}

void MultiTensorStep::count_replayed_step() {
  for (auto& item : optimizer_.state()) {
    if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(item.second.get())) {
      adam->step(adam->step() + 1);
    } else if (auto* adamw = dynamic_cast<torch::optim::AdamWParamState*>(item.second.get())) {
      adamw->step(adamw->step() + 1);
    }
  }
}

// The kernel adds ε after bias correction. Keras' form, ε added to √v before it, is the same
// update with ε / √(1 − β₂ᵗ) there: the kernel's step is lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε').
double MultiTensorStep::fused_epsilon(const Lists& lists) const {
  if (!options_.keras_epsilon() || lists.steps.empty()) return options_.eps();
  const double step = static_cast<double>(lists.steps.front() + 1);
  return options_.eps() / std::sqrt(1 - std::pow(options_.beta2(), step));
}

void MultiTensorStep::fused_step(const Lists& lists, const c10::IValue& lr, bool count_on_host) {
  const auto op = *fused_operator(options_.kind());
  const auto& o = options_;
  torch::jit::Stack stack;
  if (o.kind() == OptimizerKind::kSgd) {
    std::vector<torch::Tensor> buffers;
    if (o.momentum() != 0) {
      for (std::size_t i = 0; i < lists.params.size(); ++i) {
        buffers.push_back(lists.first_sgd_step ? torch::empty_like(lists.params[i])
                                               : lists.buffers[i]);
      }
    }
    stack = {c10::IValue(lists.params),
             c10::IValue(lists.grads),
             c10::IValue(buffers),
             c10::IValue(o.weight_decay()),
             c10::IValue(o.momentum()),
             lr,
             c10::IValue(0.0),
             c10::IValue(o.nesterov()),
             c10::IValue(false),
             c10::IValue(lists.first_sgd_step),
             c10::IValue(),
             c10::IValue()};
    op.callBoxed(&stack);
    if (lists.first_sgd_step && o.momentum() != 0) {
      for (std::size_t i = 0; i < lists.params.size(); ++i) {
        optimizer_.state()[optimizer_state_key(lists.params[i])] =
            std::make_unique<torch::optim::SGDParamState>(
                torch::optim::SGDParamState().momentum_buffer(buffers[i]));
      }
    }
    return;
  }
  // Step counts as float32 tensors on the device, which the kernel reads; kept between steps
  // (a CUDA graph replays them) and rebuilt from the host's counts when they disagree in number.
  if (step_tensors_.size() != lists.params.size()) {
    step_tensors_.clear();
    for (std::size_t i = 0; i < lists.params.size(); ++i) {
      step_tensors_.push_back(torch::full({}, static_cast<double>(lists.steps[i]),
                                          lists.params[i].options().dtype(torch::kFloat32)));
    }
  }
  at::_foreach_add_(step_tensors_, 1);
  stack = {c10::IValue(lists.params),
           c10::IValue(lists.grads),
           c10::IValue(lists.exp_avgs),
           c10::IValue(lists.exp_avg_sqs),
           c10::IValue(std::vector<torch::Tensor>{}),
           c10::IValue(step_tensors_),
           lr,
           c10::IValue(o.beta1()),
           c10::IValue(o.beta2()),
           c10::IValue(o.weight_decay()),
           c10::IValue(fused_epsilon(lists)),
           c10::IValue(false),
           c10::IValue(false),
           c10::IValue(),
           c10::IValue()};
  op.callBoxed(&stack);
  if (!count_on_host) return;
  for (auto* state : lists.states) {
    if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(state)) {
      adam->step(adam->step() + 1);
    } else if (auto* adamw = dynamic_cast<torch::optim::AdamWParamState*>(state)) {
      adamw->step(adamw->step() + 1);
    }
  }
}

// The same arithmetic, in the same order, as torch::optim's Adam, AdamW and SGD, one operation
// over all parameters at a time.
void MultiTensorStep::foreach_step(const Lists& lists, double lr) {
  torch::NoGradGuard no_grad;
  const auto& o = options_;
  // Where groups differ, each parameter's own rate and decay, as scalar lists.
  const auto per_parameter = [&lists](const std::vector<double>& values, double factor) {
    std::vector<c10::Scalar> scalars;
    for (double v : values) scalars.emplace_back(v * factor);
    return scalars;
  };
  if (o.kind() == OptimizerKind::kSgd) {
    std::vector<torch::Tensor> d_p = lists.grads;
    if (!uniform_) {
      d_p = at::_foreach_add(d_p, at::_foreach_mul(lists.params, per_parameter(lists.decays, 1)));
    } else if (o.weight_decay() != 0) {
      d_p = at::_foreach_add(d_p, lists.params, o.weight_decay());
    }
    if (o.momentum() != 0) {
      std::vector<torch::Tensor> buffers;
      if (lists.first_sgd_step) {
        for (std::size_t i = 0; i < d_p.size(); ++i) {
          buffers.push_back(torch::clone(d_p[i]).detach());
          optimizer_.state()[optimizer_state_key(lists.params[i])] =
              std::make_unique<torch::optim::SGDParamState>(
                  torch::optim::SGDParamState().momentum_buffer(buffers.back()));
        }
      } else {
        buffers = lists.buffers;
        at::_foreach_mul_(buffers, o.momentum());
        at::_foreach_add_(buffers, d_p, 1.0);
      }
      d_p = o.nesterov() ? at::_foreach_add(d_p, buffers, o.momentum()) : buffers;
    }
    if (uniform_) {
      at::_foreach_add_(lists.params, d_p, -lr);
    } else {
      at::_foreach_add_(lists.params, at::_foreach_mul(d_p, per_parameter(lists.multipliers, -lr)));
    }
    return;
  }
  const bool adamw = o.kind() == OptimizerKind::kAdamW;
  std::vector<torch::Tensor> grads = lists.grads;
  if (!uniform_) {
    // Per parameter: AdamW's decay by its own rate, Adam's coupled decay.
    std::vector<c10::Scalar> factors, decays;
    for (std::size_t i = 0; i < lists.params.size(); ++i) {
      factors.emplace_back(1 - lr * lists.multipliers[i] * lists.decays[i]);
      decays.emplace_back(lists.decays[i]);
    }
    if (adamw) at::_foreach_mul_(lists.params, factors);
    if (!adamw) grads = at::_foreach_add(grads, at::_foreach_mul(lists.params, decays));
  } else {
    if (adamw && o.weight_decay() != 0) at::_foreach_mul_(lists.params, 1 - lr * o.weight_decay());
    if (!adamw && o.weight_decay() != 0)
      grads = at::_foreach_add(grads, lists.params, o.weight_decay());
  }
  std::vector<c10::Scalar> sqrt_bc2, step_sizes;
  for (std::size_t i = 0; i < lists.states.size(); ++i) {
    const int64_t step = lists.steps[i] + 1;
    const double bc1 = 1 - std::pow(o.beta1(), static_cast<double>(step));
    const double bc2 = 1 - std::pow(o.beta2(), static_cast<double>(step));
    sqrt_bc2.emplace_back(std::sqrt(bc2));
    // Keras: alpha = lr·√(1−β₂ᵗ)/(1−β₁ᵗ), applied to m / (√v + ε).
    const double rate = uniform_ ? lr : lr * lists.multipliers[i];
    step_sizes.emplace_back(o.keras_epsilon() ? -(rate * std::sqrt(bc2) / bc1) : -(rate / bc1));
    if (adamw) {
      static_cast<torch::optim::AdamWParamState*>(lists.states[i])->step(step);
    } else {
      static_cast<torch::optim::AdamParamState*>(lists.states[i])->step(step);
    }
  }
  at::_foreach_mul_(lists.exp_avgs, o.beta1());
  at::_foreach_add_(lists.exp_avgs, grads, 1 - o.beta1());
  at::_foreach_mul_(lists.exp_avg_sqs, o.beta2());
  at::_foreach_addcmul_(lists.exp_avg_sqs, grads, grads, 1 - o.beta2());
  auto denom = at::_foreach_sqrt(lists.exp_avg_sqs);
  if (!o.keras_epsilon()) at::_foreach_div_(denom, sqrt_bc2);
  at::_foreach_add_(denom, o.eps());
  at::_foreach_addcdiv_(lists.params, lists.exp_avgs, denom, step_sizes);
}

}  // namespace cnnlab
