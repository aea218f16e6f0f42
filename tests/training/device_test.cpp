// Device selection, the multi-tensor optimizer step and metrics read every few steps: everything
// of the GPU path that a CPU can check.
#include "cnnlab/training/device.h"

#include <gtest/gtest.h>
#include <torch/csrc/jit/frontend/function_schema_parser.h>

#include "cnnlab/config/run_config.h"
#include "cnnlab/error.h"
#include "cnnlab/run/history_files.h"
#include "cnnlab/training/optimizer.h"
#include "cnnlab/training/trainer.h"
#include "support/run_trainer.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

using testing::TempDir;

std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(DeviceTest, CpuAndAutoResolve) {
  EXPECT_EQ(resolve_device("cpu", "--device"), torch::Device(torch::kCPU));
  const torch::Device automatic = resolve_device("auto", "--device");
  if (cuda_built() && cuda_device_count() > 0) {
    EXPECT_EQ(automatic, torch::Device(torch::kCUDA, 0));
  } else {
    EXPECT_EQ(automatic, torch::Device(torch::kCPU));
  }
}

TEST(DeviceTest, MisspelledDevicesNameTheOptionAndTheValue) {
  for (const std::string bad : {"gpu", "CUDA", "cuda:", "cuda:x", "cuda:-1", "cuda0", ""}) {
    const std::string message = message_of([&] { resolve_device(bad, "--device"); });
    EXPECT_NE(message.find("--device"), std::string::npos) << bad << ": " << message;
    EXPECT_NE(message.find("'" + bad + "'"), std::string::npos) << message;
    EXPECT_NE(message.find("cpu, cuda, cuda:N or auto"), std::string::npos) << message;
  }
}

TEST(DeviceTest, AMissingGpuIsAClearError) {
  const int64_t gpus = cuda_built() ? cuda_device_count() : 0;
  const std::string beyond = "cuda:" + std::to_string(gpus);
  const std::string message = message_of([&] { resolve_device(beyond, "--device"); });
  EXPECT_NE(message.find("--device: '" + beyond + "'"), std::string::npos) << message;
  if (gpus == 0) {
    EXPECT_NE(message.find("--device cpu"), std::string::npos) << message;
    EXPECT_NE(message_of([] { resolve_device("cuda", "train.device"); }).find("train.device"),
              std::string::npos);
  }
}

TEST(DeviceTest, TheConfigKeyIsCheckedWhenParsed) {
  const std::string layers = "[[model.layers]]\ntype = \"dense\"\nunits = 3\n";
  const std::string message =
      message_of([&] { parse_config(layers + "[train]\ndevice = \"tpu\"\n", "run.toml"); });
  EXPECT_NE(message.find("train.device"), std::string::npos) << message;
  EXPECT_NE(message.find("'tpu'"), std::string::npos) << message;
  const RunConfig config = parse_config(
      layers + "[train]\ndevice = \"cuda:1\"\nsync_every_steps = 8\ncuda_graphs = false\n",
      "run.toml");
  EXPECT_EQ(config.train.device(), "cuda:1");
  EXPECT_EQ(config.train.sync_every_steps(), 8);
  EXPECT_FALSE(config.train.cuda_graphs());
  const RunConfig again = parse_config(to_toml(config), "again.toml");
  EXPECT_EQ(again.train.device(), "cuda:1");
  EXPECT_EQ(again.train.sync_every_steps(), 8);
  EXPECT_FALSE(again.train.cuda_graphs());
}

// Parameters of a few shapes with gradients, two identical copies.
std::vector<torch::Tensor> parameters(uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> params;
  for (const auto& shape : std::vector<std::vector<int64_t>>{{8, 3, 3, 3}, {8}, {10, 32}, {10}}) {
    params.push_back(torch::randn(shape).requires_grad_(true));
  }
  return params;
}

void set_gradients(std::vector<torch::Tensor>& params, int step) {
  torch::manual_seed(100 + step);
  for (auto& p : params) p.mutable_grad() = torch::randn_like(p);
}

// The multi-tensor step against torch::optim's own, three steps with the same gradients: the
// same arithmetic in the same order, so the same bits.
void expect_same_as_torch(const OptimizerOptions& options) {
  auto reference = parameters(1), multi = parameters(1);
  auto torch_optimizer = make_optimizer(options, reference);
  auto optimizer = make_optimizer(options, multi);
  MultiTensorStep step(*optimizer, options);
  EXPECT_FALSE(step.fused());  // no fused kernels for CPU tensors here
  for (int i = 0; i < 3; ++i) {
    set_gradients(reference, i);
    set_gradients(multi, i);
    torch_optimizer->step();
    step.step(options.lr());
    for (std::size_t k = 0; k < reference.size(); ++k) {
      EXPECT_TRUE(torch::equal(reference[k], multi[k]))
          << optimizer_name(options.kind()) << " step " << i << " parameter " << k << ": "
          << (reference[k] - multi[k]).abs().max().item<double>();
    }
  }
  // The state a checkpoint saves is the same too (plain SGD keeps none).
  if (options.kind() == OptimizerKind::kSgd && options.momentum() == 0) return;
  for (const auto& p : multi) {
    EXPECT_NE(optimizer->state().find(optimizer_state_key(p)), optimizer->state().end());
  }
}

TEST(MultiTensorStepTest, AdamMatchesTorchOptimizer) {
  expect_same_as_torch(OptimizerOptions().lr(0.01));
  expect_same_as_torch(OptimizerOptions().lr(0.01).weight_decay(0.1));
}

TEST(MultiTensorStepTest, AdamWMatchesTorchOptimizer) {
  expect_same_as_torch(OptimizerOptions().kind(OptimizerKind::kAdamW).lr(0.01).weight_decay(0.05));
}

// The fused kernels' schemas as LibTorch 2.x declares them; MultiTensorStep passes exactly these.
constexpr const char* kFusedAdam =
    "aten::_fused_adam_.tensor_lr(Tensor(a!)[] self, Tensor(b!)[] grads, Tensor(c!)[] exp_avgs, "
    "Tensor(d!)[] exp_avg_sqs, Tensor(e!)[] max_exp_avg_sqs, Tensor[] state_steps, *, Tensor lr, "
    "float beta1, float beta2, float weight_decay, float eps, bool amsgrad, bool maximize, "
    "Tensor? grad_scale=None, Tensor? found_inf=None) -> ()";
constexpr const char* kFusedSgd =
    "aten::_fused_sgd_.tensor_lr(Tensor(a!)[] self, Tensor(b!)[] grads, Tensor(c!)[] "
    "momentum_buffer_list, *, float weight_decay, float momentum, Tensor lr, float dampening, "
    "bool nesterov, bool maximize, bool is_first_step, Tensor? grad_scale=None, Tensor? "
    "found_inf=None) -> ()";

c10::FunctionSchema schema(std::string text, const std::string& from = "",
                           const std::string& to = "") {
  if (!from.empty()) text.replace(text.find(from), from.size(), to);
  return torch::jit::parseSchema(text);
}

TEST(MultiTensorStepTest, FusedKernelsAreUsedOnlyWithTheArgumentsItPasses) {
  EXPECT_TRUE(fused_schema_matches(schema(kFusedAdam), OptimizerKind::kAdam));
  EXPECT_TRUE(fused_schema_matches(schema(kFusedAdam, "_fused_adam_", "_fused_adamw_"),
                                   OptimizerKind::kAdamW));
  EXPECT_TRUE(fused_schema_matches(schema(kFusedSgd), OptimizerKind::kSgd));
  // Another kernel, the float learning-rate overload, an argument more or renamed.
  EXPECT_FALSE(fused_schema_matches(schema(kFusedAdam), OptimizerKind::kAdamW));
  EXPECT_FALSE(fused_schema_matches(schema(kFusedSgd), OptimizerKind::kAdam));
  EXPECT_FALSE(fused_schema_matches(schema(kFusedAdam, ".tensor_lr", ""), OptimizerKind::kAdam));
  EXPECT_FALSE(
      fused_schema_matches(schema(kFusedAdam, "Tensor lr", "float lr"), OptimizerKind::kAdam));
  EXPECT_FALSE(
      fused_schema_matches(schema(kFusedSgd, "bool is_first_step, ", ""), OptimizerKind::kSgd));
  EXPECT_FALSE(fused_schema_matches(schema(kFusedAdam, "bool maximize", "bool maximise"),
                                    OptimizerKind::kAdam));
  // Where this LibTorch has the kernels (2.x), they are the ones MultiTensorStep expects.
  for (auto [name, kind] : {std::pair{"aten::_fused_adam_", OptimizerKind::kAdam},
                            std::pair{"aten::_fused_adamw_", OptimizerKind::kAdamW},
                            std::pair{"aten::_fused_sgd_", OptimizerKind::kSgd}}) {
    const auto handle = c10::Dispatcher::singleton().findOp({name, "tensor_lr"});
    if (handle.has_value()) {
      EXPECT_TRUE(fused_schema_matches(handle->schema(), kind)) << handle->schema();
    }
  }
}

TEST(MultiTensorStepTest, SgdMatchesTorchOptimizer) {
  expect_same_as_torch(OptimizerOptions().kind(OptimizerKind::kSgd).lr(0.1));
  expect_same_as_torch(
      OptimizerOptions().kind(OptimizerKind::kSgd).lr(0.1).nesterov(true).weight_decay(0.01));
  expect_same_as_torch(OptimizerOptions().kind(OptimizerKind::kSgd).lr(0.1).momentum(0));
}

// Two groups at different rates, for the step per parameter.
std::vector<ParameterGroup> groups_of(std::vector<torch::Tensor>& params) {
  return {{{params[0], params[1]}, 1.0}, {{params[2], params[3]}, 8.0}};
}

TEST(MultiTensorStepTest, GroupsWithTheirOwnRatesMatchTorchOptimizer) {
  for (const auto& options :
       {OptimizerOptions().kind(OptimizerKind::kSgd).lr(0.1).nesterov(true).weight_decay(0.01),
        OptimizerOptions()
            .kind(OptimizerKind::kSgd)
            .lr(0.1)
            .momentum(0.85)
            .nesterov(true)
            .weight_decay(0.002)
            .decoupled_weight_decay(true),
        OptimizerOptions().lr(0.01).weight_decay(0.1),
        OptimizerOptions().kind(OptimizerKind::kAdamW).lr(0.01).weight_decay(0.05)}) {
    auto reference = parameters(1), multi = parameters(1);
    auto torch_optimizer = make_optimizer(options, groups_of(reference));
    auto optimizer = make_optimizer(options, groups_of(multi));
    const std::vector<double> multipliers{1.0, 8.0};
    MultiTensorStep step(*optimizer, options, multipliers);
    EXPECT_FALSE(step.capturable());
    for (int i = 0; i < 3; ++i) {
      set_gradients(reference, i);
      set_gradients(multi, i);
      const double lr = options.lr() * (1.0 - 0.2 * i);  // a schedule moves the rate
      set_learning_rate(*torch_optimizer, lr, multipliers);
      set_learning_rate(*optimizer, lr, multipliers);
      torch_optimizer->step();
      step.step(lr);
      for (std::size_t k = 0; k < reference.size(); ++k) {
        // The same arithmetic, but rounded apart (a scaled step, then its addition).
        EXPECT_TRUE(torch::allclose(reference[k], multi[k], 1e-5, 1e-6))
            << optimizer_name(options.kind()) << " step " << i << " parameter " << k << ": "
            << (reference[k] - multi[k]).abs().max().item<double>();
      }
    }
  }
}

// Keras' form exists only in the multi-tensor update: each group's rate is checked against the
// same update of that group alone.
TEST(MultiTensorStepTest, KerasEpsilonGroupsTakeTheirOwnRates) {
  const auto options = OptimizerOptions().lr(0.01).keras_epsilon(true);
  auto together = parameters(1), slow = parameters(1), fast = parameters(1);
  auto optimizer = make_optimizer(options, groups_of(together));
  MultiTensorStep step(*optimizer, options, {1.0, 8.0});
  std::vector<torch::Tensor> slow_part{slow[0], slow[1]}, fast_part{fast[2], fast[3]};
  auto slow_optimizer = make_optimizer(options, slow_part);
  auto fast_optimizer = make_optimizer(OptimizerOptions(options).lr(0.08), fast_part);
  MultiTensorStep slow_step(*slow_optimizer, options), fast_step(*fast_optimizer, options);
  for (int i = 0; i < 2; ++i) {
    set_gradients(together, i);
    set_gradients(slow, i);
    set_gradients(fast, i);
    step.step(0.01);
    slow_step.step(0.01);
    fast_step.step(0.08);
  }
  EXPECT_TRUE(torch::allclose(together[0], slow[0], 1e-6, 1e-7));
  EXPECT_TRUE(torch::allclose(together[3], fast[3], 1e-6, 1e-7));
}

TEST(OptimizerTest, DecoupledWeightDecayIgnoresTheRateAndItsMultiplier) {
  // Zero gradients, no momentum: each step only decays.
  for (const bool decoupled : {false, true}) {
    auto params = parameters(1);
    const std::vector<torch::Tensor> before{params[0].detach().clone(), params[2].detach().clone()};
    const auto options = OptimizerOptions()
                             .kind(OptimizerKind::kSgd)
                             .lr(0.5)
                             .momentum(0)
                             .weight_decay(0.01)
                             .decoupled_weight_decay(decoupled);
    auto optimizer = make_optimizer(options, groups_of(params));
    for (auto& p : params) p.mutable_grad() = torch::zeros_like(p);
    // Half the peak rate: decoupled, each weight keeps 1 − 0.01·½ of itself in both groups;
    // coupled, 1 − 0.25·0.01 and 1 − 2·0.01 (the second group learns 8 times faster).
    set_learning_rate(*optimizer, 0.25, {1.0, 8.0});
    optimizer->step();
    const double first = decoupled ? 1 - 0.005 : 1 - 0.25 * 0.01;
    const double second = decoupled ? 1 - 0.005 : 1 - 2.0 * 0.01;
    EXPECT_TRUE(torch::allclose(params[0], before[0] * first, 1e-6, 1e-7)) << decoupled;
    EXPECT_TRUE(torch::allclose(params[2], before[1] * second, 1e-6, 1e-7)) << decoupled;
  }
  EXPECT_THROW(make_optimizer(OptimizerOptions().decoupled_weight_decay(true), parameters(1)),
               ConfigError);
}

ModelSpec tiny_model() {
  ModelSpec spec = parse_config(R"(
[[model.layers]]
type = "conv2d"
filters = 4
kernel = 3
activation = "relu"
[[model.layers]]
type = "batchnorm"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
units = 3
)",
                                "m.toml")
                       .model;
  spec.input = {1, 6, 6};
  spec.num_classes = 3;
  return spec;
}

Dataset tiny_data(int64_t n) {
  torch::manual_seed(7);
  auto labels = torch::randint(0, 3, {n}, torch::kInt64);
  auto images = torch::randint(0, 60, {n, 1, 6, 6}, torch::kInt64);
  for (int64_t i = 0; i < n; ++i) images[i].narrow(2, 2 * labels[i].item<int64_t>(), 2).add_(150);
  return Dataset{images.to(torch::kUInt8), labels, {"a", "b", "c"}};
}

struct Trained {
  History history;
  std::vector<torch::Tensor> weights;
  std::vector<int64_t> progress_steps;
};

Trained train_with(int64_t sync_every, const OptimizerOptions& optimizer,
                   const std::filesystem::path& dir) {
  torch::manual_seed(3);
  testing::RunTrainer trainer(Network(tiny_model()),
                              TrainerOptions()
                                  .epochs(2)
                                  .batch_size(16)
                                  .seed(4)
                                  .sync_every_steps(sync_every)
                                  .checkpoint_every_steps(5)
                                  .optimizer(optimizer),
                              dir);
  Trained result;
  TrainerCallbacks callbacks;
  callbacks.on_step_end = [&](const StepEvent& e) {
    result.progress_steps.push_back(e.global_step);
  };
  trainer.fit(tiny_data(150), tiny_data(30), {}, callbacks);
  result.history = trainer.history();
  for (const auto& p : trainer.network()->parameters())
    result.weights.push_back(p.detach().clone());
  return result;
}

// Reading the metrics every 7 steps instead of after each (what a GPU does, every 50) changes
// when they are read, nothing else: same history, same progress events, same weights.
TEST(DeferredMetricsTest, ReadingEverySevenStepsGivesTheSameRun) {
  TempDir a, b;
  const Trained every = train_with(1, OptimizerOptions().lr(0.01), a.path());
  const Trained batched = train_with(7, OptimizerOptions().lr(0.01), b.path());
  ASSERT_EQ(every.history.steps.size(), batched.history.steps.size());
  for (std::size_t i = 0; i < every.history.steps.size(); ++i) {
    EXPECT_EQ(every.history.steps[i].global_step, batched.history.steps[i].global_step);
    EXPECT_DOUBLE_EQ(every.history.steps[i].loss, batched.history.steps[i].loss) << i;
    EXPECT_DOUBLE_EQ(every.history.steps[i].accuracy, batched.history.steps[i].accuracy) << i;
  }
  ASSERT_EQ(every.history.epochs.size(), 2u);
  ASSERT_EQ(batched.history.epochs.size(), 2u);
  for (std::size_t e = 0; e < 2; ++e) {
    EXPECT_DOUBLE_EQ(every.history.epochs[e].loss, batched.history.epochs[e].loss);
    EXPECT_DOUBLE_EQ(every.history.epochs[e].val_accuracy, batched.history.epochs[e].val_accuracy);
  }
  EXPECT_EQ(every.progress_steps, batched.progress_steps);
  for (std::size_t k = 0; k < every.weights.size(); ++k) {
    EXPECT_TRUE(torch::equal(every.weights[k], batched.weights[k])) << k;
  }
  EXPECT_EQ(read_history(b.path()).steps.size(), every.history.steps.size());
}

// A loss that stops being finite is still named by its own step when it is read later, and the
// run stops with its last checkpoint from before that step.
TEST(DeferredMetricsTest, DivergenceIsNamedByItsStepWhenReadLater) {
  TempDir a, b;
  const auto diverging = OptimizerOptions().kind(OptimizerKind::kSgd).lr(1e30).momentum(0);
  std::string every_message, batched_message;
  try {
    train_with(1, diverging, a.path());
  } catch (const DivergenceError& e) {
    every_message = e.what();
  }
  try {
    train_with(7, diverging, b.path());
  } catch (const DivergenceError& e) {
    batched_message = e.what();
  }
  ASSERT_FALSE(every_message.empty());
  EXPECT_EQ(every_message, batched_message);
  EXPECT_EQ(std::filesystem::exists(a / "checkpoints" / "last.pt"),
            std::filesystem::exists(b / "checkpoints" / "last.pt"));
}

TEST(DeferredMetricsTest, NegativeIntervalIsRefused) {
  EXPECT_THROW(Trainer(Network(tiny_model()), TrainerOptions().sync_every_steps(-1)), ConfigError);
}

}  // namespace
}  // namespace cnnlab
