#include "cnnlab/training/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <future>
#include <mutex>
#include <tuple>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cnnlab/error.h"
#include "cnnlab/training/device.h"
#include "cnnlab/training/evaluate.h"

namespace cnnlab {
namespace F = torch::nn::functional;

namespace {

// How many training images a kernel that starts from the data (whitening) is computed from, as
// airbench does.
constexpr int64_t kDataInitializationImages = 5000;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

torch::Tensor default_rng_state() {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void set_default_rng_state(const torch::Tensor& state) {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

// A helper thread computes on one core: the training step's own thread pool has the others.
void use_one_thread() {
  at::internal::lazy_init_num_threads();  // ATen sizes each new thread's pool once; do it now
#ifdef _OPENMP
  omp_set_num_threads(1);
#endif
}

DivergenceError diverged(int64_t epoch, int64_t step, double loss, double lr) {
  return DivergenceError(fmt::format(
      "training diverged at epoch {}, step {}: the loss became {}. The learning rate ({:g}) is "
      "likely too high; the last checkpoint before this step is kept. (Set "
      "train.nonfinite_loss = \"skip\" to skip such batches instead.)",
      epoch + 1, step, loss, lr));
}

// Early stopping and the plateau schedule cannot watch validation figures without a validation
// set.
void check_monitors(const TrainerOptions& options, const Dataset& validation) {
  const auto& stopping = options.early_stopping();
  const bool plateau = options.schedule().kind() == ScheduleKind::kPlateau;
  for (const auto& [used, monitor, where] :
       {std::tuple{stopping.enabled(), stopping.monitor(), "early_stopping.monitor"},
        std::tuple{plateau, options.schedule().plateau_monitor(), "train.plateau_monitor"}}) {
    if (used && monitors_validation(monitor) && validation.size() == 0) {
      throw ConfigError(fmt::format(
          "{}: '{}' needs a validation set, and this run has none (data.validation_split = 0); "
          "set a validation split, or monitor \"loss\" or \"accuracy\"",
          where, monitor));
    }
  }
}

// On a GPU the images move over once, as uint8, when they fit; else batches are copied over one
// at a time.
Dataset on_device(const Dataset& data, const torch::Device& device) {
  if (!device.is_cuda() || data.size() == 0) return data;
  try {
    Dataset moved = data;
    moved.images = data.images.to(device);
    moved.labels = data.labels.to(device);
    return moved;
  } catch (const c10::Error&) {
    return data;
  }
}

}  // namespace

void validate(const TrainerOptions& options) {
  if (options.epochs() <= 0) {
    throw ConfigError(
        fmt::format("train.epochs: expected a count > 0, found {}", options.epochs()));
  }
  if (options.batch_size() <= 0) {
    throw ConfigError(
        fmt::format("train.batch_size: expected a count > 0, found {}", options.batch_size()));
  }
  if (options.eval_batch_size() <= 0) {
    throw ConfigError(fmt::format("train.eval_batch_size: expected a count > 0, found {}",
                                  options.eval_batch_size()));
  }
  if (!(options.label_smoothing() >= 0 && options.label_smoothing() < 1)) {
    throw ConfigError(fmt::format("train.label_smoothing: expected a value in [0, 1), found {}",
                                  options.label_smoothing()));
  }
  if (options.checkpoint_every_steps() < 0) {
    throw ConfigError(fmt::format("train.checkpoint_every_steps: expected a count ≥ 0, found {}",
                                  options.checkpoint_every_steps()));
  }
  if (options.sync_every_steps() < 0) {
    throw ConfigError(fmt::format("train.sync_every_steps: expected a count ≥ 0, found {}",
                                  options.sync_every_steps()));
  }
  check_device_spelling(options.device(), "train.device");
  validate(options.schedule());
  validate(options.augment());
  validate(options.early_stopping());
  validate(options.lookahead());
}

std::string nonfinite_loss_name(NonFiniteLoss policy) {
  return policy == NonFiniteLoss::kSkip ? "skip" : "stop";
}

NonFiniteLoss parse_nonfinite_loss(const std::string& text, const std::string& where) {
  if (text == "stop") return NonFiniteLoss::kStop;
  if (text == "skip") return NonFiniteLoss::kSkip;
  throw ConfigError(fmt::format("{}: expected stop or skip, found '{}'", where, text));
}

// The static tensors a recorded training step reads and writes: its batch and learning rate
// are copied in before each replay; loss and correct count come out.
struct Trainer::GraphStep {
  torch::Tensor x, y, lr, loss, correct;
  std::unique_ptr<CudaGraph> graph;
};

// Steps run since their metrics were last read. Metrics read at once are kept as numbers; those
// of steps run ahead wait on the device in `metrics` (row 0 the losses, row 1 the numbers of
// correct predictions).
struct Trainer::PendingSteps {
  struct Step {
    int64_t epoch, step, global_step;
    double seen, lr;
    bool skipped;
    double loss, correct;  // when read at once
  };
  std::vector<Step> steps;
  torch::Tensor metrics;
};

// What a step returns: its batch's mean loss and number of correct predictions, as device
// scalars to read later, or as numbers read at once (across processes: over all of them).
struct Trainer::StepOutcome {
  torch::Tensor loss, correct;
  bool read = false;
  double loss_value = 0, correct_value = 0;
  double seen = 0;       // images in the batch (across processes: in all their shares)
  bool skipped = false;  // its loss was not finite, and no update was made
  bool stop = false;     // across processes: some process was asked to stop
};

// What one fit() call works with.
struct Trainer::Loop {
  explicit Loop(Callback& events) : callbacks(events) {}
  Callback& callbacks;
  int64_t n = 0, batch = 0, steps_per_epoch = 0, total_steps = 0;
  double lr = 0;           // the epoch's base learning rate
  int64_t sync_every = 1;  // metrics are read every this many steps
  bool gpu = false;
  bool plateau = false;
  bool join_empty = false;  // a process with an empty share still joins the exchanges
  PendingSteps pending;
  Clock::time_point start;
  double seconds_before = 0;  // of the epoch in progress, before this fit() (a resumed run)
  int64_t skipped = 0;        // batches of this epoch skipped (since resuming)
  double epoch_seconds() const { return seconds_before + seconds_since(start); }
};

Trainer::Trainer(Network network, TrainerOptions options, std::shared_ptr<ProcessGroup> group)
    : network_(std::move(network)),
      options_(std::move(options)),
      group_(std::move(group)),
      device_(torch::kCPU),
      lookahead_(options_.lookahead()) {
  validate(options_);
  device_ = resolve_device(options_.device(), "train.device");
  if (group_ && device_.is_cuda()) {
    throw ConfigError(
        "train.device: training across processes runs on the CPU (Gloo); use "
        "--device cpu, or one process for a GPU");
  }
  prepare_device(device_);
  network_->to(device_);
  std::vector<ParameterGroup> groups;
  for (auto& [multiplier, params] : network_->parameters_by_lr_multiplier()) {
    groups.push_back({std::move(params), multiplier});
    lr_multipliers_.push_back(multiplier);
  }
  optimizer_ = make_optimizer(options_.optimizer(), groups);
}

Trainer::~Trainer() = default;
Trainer::Trainer(Trainer&&) noexcept = default;

std::string Trainer::step_mode() const {
  std::string mode = graph_ ? "cuda-graph" : "eager";
  if (multi_tensor_) mode += multi_tensor_->fused() ? "+fused" : "+foreach";
  return mode;
}

void Trainer::restore(TrainingState state, History history) {
  state_ = std::move(state);
  multi_tensor_.reset();  // its copies of the optimizer state are stale
  graph_.reset();
  best_weights_.clear();
  lookahead_.restore(state_.lookahead);
  if (state_.rng_state.defined()) {
    try {
      set_default_rng_state(state_.rng_state);
    } catch (const c10::Error& e) {
      throw CheckpointError(
          fmt::format("the saved random-number state is invalid: {}", torch_error_message(e)));
    }
  }
  // Records after the checkpoint describe steps that will run again: drop them.
  History kept;
  for (const auto& step : history.steps) {
    if (step.global_step <= state_.global_step) kept.steps.push_back(step);
  }
  for (const auto& epoch : history.epochs) {
    if (epoch.epoch <= state_.epoch) kept.epochs.push_back(epoch);
  }
  history_ = std::move(kept);
}

EarlyStoppingVerdict Trainer::early_stopping() const {
  return early_stopping_verdict(options_.early_stopping(), history_.epochs);
}

void Trainer::remember_best_weights() {
  torch::NoGradGuard no_grad;
  best_weights_.clear();
  for (const auto& p : network_->parameters()) best_weights_.push_back(p.detach().clone());
  for (const auto& b : network_->buffers()) best_weights_.push_back(b.detach().clone());
}

void Trainer::restore_best_weights(Loop& loop) {
  const EarlyStoppingVerdict verdict = early_stopping();
  if (best_weights_.empty() && (!group_ || group_->rank() == 0)) {
    throw CheckpointError(fmt::format(
        "the weights of the best epoch ({}) cannot be restored "
        "(early_stopping.restore_best_weights): the run's best checkpoint is missing or holds "
        "another epoch; set early_stopping.restore_best_weights = false in the run's config.toml "
        "to end with the last weights",
        verdict.best_epoch));
  }
  {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> weights = network_->parameters();
    for (const auto& b : network_->buffers()) weights.push_back(b);
    if (!best_weights_.empty()) {
      for (std::size_t i = 0; i < weights.size(); ++i) weights[i].copy_(best_weights_[i]);
    }
  }
  if (group_) {
    // Rank 0's copy: a process resumed on another machine may have none.
    group_->broadcast(network_->parameters());
    group_->broadcast(network_->buffers());
  }
  checkpoint_due(loop, CheckpointKind::kLast);
  loop.callbacks.on_best_weights_restored(verdict);
}

torch::Tensor Trainer::epoch_order(int64_t epoch, int64_t n) const {
  // A generator of its own per epoch: the order depends only on (seed, epoch), so a resumed run
  // shuffles exactly as an uninterrupted one.
  auto generator = at::detail::createCPUGenerator(options_.seed() * 1000003ULL +
                                                  static_cast<uint64_t>(epoch) + 1);
  return torch::randperm(n, generator, torch::TensorOptions().dtype(torch::kInt64));
}

torch::Tensor Trainer::training_batch(const Dataset& train, const torch::Tensor& index,
                                      const Normalization& norm, int64_t step) const {
  auto x = to_unit_float(train.images.index_select(0, index));
  if (options_.augment().enabled()) {
    // Seeded by (seed, step) rather than drawn from a running stream: resuming at any step
    // reproduces the augmentation an uninterrupted run would have drawn.
    // Each process of a distributed run draws its own stream.
    const auto rank = static_cast<uint64_t>(group_ ? group_->rank() : 0);
    auto generator = at::detail::createCPUGenerator(options_.seed() * 0x9E3779B97F4A7C15ULL +
                                                    static_cast<uint64_t>(step) + 0x5DEECE66DULL +
                                                    rank * 0x2545F4914F6CDD1DULL);
    const auto& augment = options_.augment();
    auto params = draw_augment_params(augment, x.size(0), x.size(2), x.size(3), generator);
    if (augment.alternating_flip()) {
      params.flip_horizontal = alternating_flips(index, state_.epoch, options_.seed());
    }
    x = apply_augmentation(x, params, augment);
  }
  // Images kept on the CPU (a GPU without room for them) travel one batch at a time.
  return normalize_(x, norm).to(device_, /*non_blocking=*/true);
}

void Trainer::checkpoint_due(Loop& loop, CheckpointKind kind) {
  state_.rng_state = default_rng_state();
  state_.lookahead = lookahead_.slow();
  loop.callbacks.on_checkpoint(kind, *this);
}

void Trainer::optimizer_step(double lr) {
  if (multi_tensor_) {
    multi_tensor_->step(lr);
  } else {
    optimizer_->step();
  }
}

std::pair<torch::Tensor, torch::Tensor> Trainer::forward_loss(const torch::Tensor& x,
                                                              const torch::Tensor& y) {
  // Gradients are dropped rather than zeroed: backward then writes them afresh instead of
  // adding to a buffer of zeros (PyTorch's zero_grad(set_to_none=True)).
  for (auto& parameter : network_->parameters()) parameter.mutable_grad().reset();
  torch::Tensor logits;
  {
    PrecisionGuard guard(options_.precision(), device_);
    logits = network_->forward(x).to(torch::kFloat32);
  }
  if (x.size(0) == 0) {
    // No images (a process's empty share of a batch): only the exchanges of the backward pass.
    return {logits.sum() * 0.0, torch::zeros({}, y.options())};
  }
  auto loss = F::cross_entropy(
      logits, y, F::CrossEntropyFuncOptions().label_smoothing(options_.label_smoothing()));
  if (network_->has_l2()) loss = loss + network_->l2_penalty();
  return {loss, logits.detach().argmax(1).eq(y).sum()};
}

std::optional<std::pair<torch::Tensor, torch::Tensor>> Trainer::record_graph(Loop& loop,
                                                                             const torch::Tensor& x,
                                                                             const torch::Tensor& y,
                                                                             double lr) {
  auto step = std::make_unique<GraphStep>();
  step->x = x.clone();
  step->y = y.clone();
  step->lr = torch::full({}, lr, x.options().dtype(torch::kFloat32));
  GraphStep* g = step.get();
  bool warmed_up = false;
  try {
    step->graph = std::make_unique<CudaGraph>(
        [&, g](bool recording) {
          auto [loss, correct] = forward_loss(g->x, g->y);
          loss.backward();
          multi_tensor_->step(g->lr, /*count_on_host=*/!recording);
          g->loss = loss.detach();
          g->correct = correct;
          if (!recording) warmed_up = true;
        },
        [&] {
          // The warm-up's gradients go before recording, so that the recorded step allocates
          // its own.
          for (auto& parameter : network_->parameters()) parameter.mutable_grad().reset();
        });
    // Recording ran the step once (its warm-up) on this batch: that was this step.
    auto result = std::make_pair(g->loss, g->correct);
    graph_ = std::move(step);
    return result;
  } catch (const c10::Error& e) {
    if (!warmed_up) throw;
    graph_failed_ = true;
    loop.callbacks.on_warning(
        fmt::format("recording the training step as a CUDA graph failed ({}); training goes on "
                    "one operation at a time",
                    torch_error_message(e)));
    for (auto& parameter : network_->parameters()) parameter.mutable_grad().reset();
    // The warm-up stepped on this batch before the recording failed.
    return std::make_pair(g->loss, g->correct);
  }
}

Trainer::StepOutcome Trainer::train_step(Loop& loop, const torch::Tensor& x, const torch::Tensor& y,
                                         int64_t batch_size, double lr) {
  StepOutcome out;
  out.seen = static_cast<double>(batch_size);
  const bool graphable = loop.gpu && options_.cuda_graphs() && multi_tensor_ &&
                         multi_tensor_->capturable() && batch_size == options_.batch_size() &&
                         loop.sync_every > 1;
  if (graph_ && graphable) {
    graph_->x.copy_(x);
    graph_->y.copy_(y);
    graph_->lr.fill_(lr);
    graph_->graph->replay();
    multi_tensor_->count_replayed_step();
    // The caller copies these out before the next replay overwrites them.
    std::tie(out.loss, out.correct) = std::make_pair(graph_->loss, graph_->correct);
    return out;
  }
  // A few eager steps first: cuDNN's algorithm search and the memory pool settle before the
  // step is recorded.
  if (graphable && !graph_failed_ && ++eager_full_steps_ > 2) {
    if (auto recorded = record_graph(loop, x, y, lr)) {
      std::tie(out.loss, out.correct) = *recorded;
      return out;
    }
  }
  if (group_) group_->broadcast(network_->buffers());  // DDP's broadcast_buffers
  torch::Tensor loss;
  if (batch_size > 0 || loop.join_empty) {
    std::tie(loss, out.correct) = forward_loss(x, y);
  }
  if (loop.sync_every == 1) {
    // Read at once: a batch with a non-finite loss is caught before it updates the weights, and
    // the processes of a distributed run agree on the figures as they go.
    out.read = true;
    if (batch_size > 0) {
      out.loss_value = loss.item<double>();
      out.correct_value = out.correct.item<double>();
    }
    if (group_) {
      // One all-reduce: the batch's loss and accuracy over all processes, and whether any was
      // asked to stop (all stop after the same step).
      auto totals = torch::tensor({out.loss_value * out.seen, out.correct_value, out.seen,
                                   loop.callbacks.stop_requested() ? 1.0 : 0.0},
                                  torch::kFloat64);
      group_->all_reduce_sum(totals);
      out.seen = totals[2].item<double>();
      out.loss_value = totals[0].item<double>() / out.seen;
      out.correct_value = totals[1].item<double>();
      out.stop = totals[3].item<double>() > 0;
    }
    if (!std::isfinite(out.loss_value)) {
      if (options_.nonfinite_loss() == NonFiniteLoss::kStop) {
        throw diverged(state_.epoch, state_.step_in_epoch + 1, out.loss_value, lr);
      }
      out.skipped = true;
      return out;
    }
  }
  if (loss.defined()) loss.backward();
  if (group_) {
    // Each share's mean gradient, weighted by its size and summed: the gradient of the whole
    // batch's mean loss.
    torch::NoGradGuard no_grad;
    for (auto& p : network_->parameters()) {
      if (p.grad().defined()) p.mutable_grad().mul_(static_cast<double>(batch_size));
    }
    // Frozen weights have no gradient to exchange, and must not get one.
    std::vector<torch::Tensor> trained;
    for (const auto& p : network_->parameters()) {
      if (p.requires_grad()) trained.push_back(p);
    }
    group_->all_reduce_gradients(trained, out.seen);
  }
  optimizer_step(lr);
  if (batch_size > 0) out.loss = loss.detach();
  return out;
}

void Trainer::read_pending(Loop& loop) {
  auto& pending = loop.pending;
  if (pending.steps.empty()) return;
  if (loop.sync_every > 1) {
    const auto n = static_cast<int64_t>(pending.steps.size());
    // One copy for all of them; it waits for the device.
    const auto metrics = pending.metrics.slice(1, 0, n).to(torch::kCPU).contiguous();
    const double* loss = metrics.data_ptr<double>();
    const double* correct = loss + metrics.stride(0);
    for (int64_t i = 0; i < n; ++i) {
      pending.steps[i].loss = loss[i];
      pending.steps[i].correct = correct[i];
    }
  }
  const double seconds = loop.epoch_seconds();
  for (const auto& step : pending.steps) {
    if (!step.skipped && !std::isfinite(step.loss)) {
      const DivergenceError error = diverged(step.epoch, step.step, step.loss, step.lr);
      pending.steps.clear();
      throw error;
    }
    if (!step.skipped) {
      state_.epoch_loss_sum += step.loss * step.seen;
      state_.epoch_correct += step.correct;
      state_.epoch_seen += static_cast<int64_t>(step.seen);
    }
    const StepRecord record{step.epoch + 1, step.global_step, step.loss, step.correct / step.seen,
                            step.lr};
    history_.steps.push_back(record);
    const double seen = static_cast<double>(std::max<int64_t>(state_.epoch_seen, 1));
    const StepEvent event{step.epoch,
                          step.step,
                          loop.steps_per_epoch,
                          step.global_step,
                          state_.epoch_loss_sum / seen,
                          state_.epoch_correct / seen,
                          step.lr,
                          seconds,
                          record};
    if (step.skipped) {
      ++loop.skipped;
      loop.callbacks.on_batch_skipped(event, step.loss);
    }
    loop.callbacks.on_batch_end(event);
  }
  pending.steps.clear();
}

bool Trainer::run_epoch(Loop& loop, const Dataset& train, const Normalization& norm) {
  const auto order = epoch_order(state_.epoch, loop.n).to(train.images.device(), true);
  // This process's even share of the batch starting at `begin` of the epoch's order.
  const auto batch_indices = [&](int64_t begin) {
    auto index = order.slice(0, begin, std::min(begin + loop.batch, loop.n));
    if (!group_) return index;
    const int64_t size = index.size(0), world = group_->world_size(), rank = group_->rank();
    return index.slice(0, size * rank / world, size * (rank + 1) / world);
  };
  loop.start = Clock::now();
  loop.seconds_before = state_.epoch_seconds;
  loop.skipped = 0;
  network_->train();
  std::future<torch::Tensor> next_batch;  // the next step's batch, when prefetching
  while (state_.step_in_epoch < loop.steps_per_epoch) {
    const int64_t begin = state_.step_in_epoch * loop.batch;
    const auto index = batch_indices(begin);
    const auto x = next_batch.valid() ? next_batch.get()
                                      : training_batch(train, index, norm, state_.global_step);
    if (options_.prefetch() && !loop.gpu && !group_ &&
        state_.step_in_epoch + 1 < loop.steps_per_epoch) {
      next_batch = std::async(std::launch::async, [&, next = batch_indices(begin + loop.batch),
                                                   step = state_.global_step + 1] {
        use_one_thread();
        torch::NoGradGuard no_grad;
        return training_batch(train, next, norm, step);
      });
    }
    const auto y = train.labels.index_select(0, index).to(device_, /*non_blocking=*/true);
    const double lr = lr_at(options_.schedule(), loop.lr, state_.global_step, loop.total_steps,
                            loop.steps_per_epoch);
    set_learning_rate(*optimizer_, lr, lr_multipliers_);
    const StepOutcome outcome = train_step(loop, x, y, index.size(0), lr);
    auto& pending = loop.pending;
    if (!outcome.read) {
      // The step runs ahead of its metrics, which wait on the device until the next read.
      const auto slot = static_cast<int64_t>(pending.steps.size());
      pending.metrics.select(1, slot).select(0, 0).copy_(outcome.loss);
      pending.metrics.select(1, slot).select(0, 1).copy_(outcome.correct);
    }
    pending.steps.push_back({state_.epoch, state_.step_in_epoch + 1, state_.global_step + 1,
                             outcome.seen, lr, outcome.skipped, outcome.loss_value,
                             outcome.correct_value});
    ++state_.global_step;
    ++state_.step_in_epoch;
    lookahead_.after_step(*network_, state_.global_step, loop.total_steps);
    if (static_cast<int64_t>(pending.steps.size()) == loop.sync_every) read_pending(loop);
    const bool stop = group_ ? outcome.stop : loop.callbacks.stop_requested();
    if (state_.step_in_epoch == loop.steps_per_epoch) return stop;  // the epoch end saves
    const bool periodic = options_.checkpoint_every_steps() > 0 &&
                          state_.global_step % options_.checkpoint_every_steps() == 0;
    if (stop || periodic) {
      // A checkpoint follows only steps whose losses were read and found finite.
      read_pending(loop);
      state_.epoch_seconds = loop.epoch_seconds();
      checkpoint_due(loop, CheckpointKind::kLast);
    }
    if (stop) return true;
  }
  return false;
}

EarlyStoppingVerdict Trainer::end_epoch(Loop& loop, const Dataset& validation,
                                        const Normalization& norm) {
  read_pending(loop);
  const int64_t epoch = state_.epoch;
  if (state_.epoch_seen == 0 && loop.skipped > 0) {
    throw DivergenceError(fmt::format(
        "training diverged in epoch {}: the loss of every batch was NaN or infinite, so all {} "
        "were skipped. The learning rate ({:g}) is likely too high; the last checkpoint before "
        "this epoch is kept.",
        epoch + 1, loop.skipped, history_.steps.empty() ? loop.lr : history_.steps.back().lr));
  }
  const double seen = static_cast<double>(std::max<int64_t>(state_.epoch_seen, 1));
  EpochRecord record;
  record.epoch = epoch + 1;
  record.epochs = options_.epochs();
  record.loss = state_.epoch_loss_sum / seen;
  record.accuracy = state_.epoch_correct / seen;
  record.val_loss = NAN;
  record.val_accuracy = NAN;
  if (validation.size() > 0) {
    // Across processes, each validates its share of the set.
    const EvalResult val = evaluate(network_, validation, norm, options_.eval_batch_size(),
                                    options_.precision(), group_.get());
    record.val_loss = val.loss;
    record.val_accuracy = val.accuracy;
  }
  record.lr = history_.steps.empty() ? loop.lr : history_.steps.back().lr;
  record.seconds = loop.epoch_seconds();
  record.steps = loop.steps_per_epoch;
  history_.epochs.push_back(record);

  const bool better_val_accuracy =
      validation.size() > 0 && record.val_accuracy > state_.best_val_accuracy;
  if (better_val_accuracy) state_.best_val_accuracy = record.val_accuracy;
  const EarlyStoppingVerdict verdict = early_stopping();
  const auto& stopping = options_.early_stopping();
  const bool improved =
      stopping.enabled() ? verdict.best_epoch == record.epoch : better_val_accuracy;
  if (improved && stopping.restore_best_weights()) remember_best_weights();
  // The state saved is "start of the next epoch".
  ++state_.epoch;
  state_.step_in_epoch = 0;
  state_.epoch_loss_sum = state_.epoch_correct = 0;
  state_.epoch_seen = 0;
  state_.epoch_seconds = 0;
  loop.callbacks.on_epoch_end(record, *this);
  // The best first: a crash between the two then repeats the epoch, which finds the same
  // improvement and saves the best again; the other order could leave it stale.
  if (improved) checkpoint_due(loop, CheckpointKind::kBest);
  checkpoint_due(loop, CheckpointKind::kLast);
  if (loop.plateau) {
    const double next = plateau_lr(options_.schedule(), options_.optimizer().lr(), history_.epochs);
    if (next < loop.lr) loop.callbacks.on_learning_rate_reduced(record.epoch, next);
  }
  return verdict;
}

void Trainer::start_from_data(const Dataset& train, const Normalization& norm) {
  if (network_->needs_data_initialization()) {
    // Kernels that start from the data see the first images of the training set (every process
    // the same ones), normalised as training batches are.
    const int64_t n = std::min<int64_t>(train.size(), kDataInitializationImages);
    network_->initialize_from_data(
        normalize_(to_unit_float(train.images.slice(0, 0, n)), norm).to(device_));
  }
  lookahead_.start(*network_);
}

FitStatus Trainer::fit(const Dataset& train, const Dataset& validation, const Normalization& norm,
                       const TrainerCallbacks& callbacks) {
  LambdaCallback functions(callbacks);
  return fit(train, validation, norm, functions);
}

FitStatus Trainer::fit(const Dataset& train_set, const Dataset& validation_set,
                       const Normalization& norm, Callback& callbacks) {
  if (train_set.size() == 0) throw ConfigError("train: the training set is empty");
  check_monitors(options_, validation_set);
  Loop loop(callbacks);
  loop.n = train_set.size();
  loop.batch = options_.batch_size();
  loop.steps_per_epoch = (loop.n + loop.batch - 1) / loop.batch;
  loop.total_steps = loop.steps_per_epoch * options_.epochs();
  loop.lr = options_.optimizer().lr();
  loop.gpu = device_.is_cuda();
  loop.plateau = options_.schedule().kind() == ScheduleKind::kPlateau;
  // Metrics are read at once where a non-finite loss skips its batch, and across processes;
  // on a GPU they are read every sync_every_steps (50 by default), so the device works ahead.
  loop.sync_every = options_.nonfinite_loss() == NonFiniteLoss::kSkip || group_ ? 1
                    : options_.sync_every_steps() > 0 ? options_.sync_every_steps()
                    : loop.gpu                        ? 50
                                                      : 1;
  if (loop.sync_every > 1) {
    loop.pending.metrics = torch::zeros(
        {2, loop.sync_every}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  }
  // Keras' epsilon form exists only in the multi-tensor update, so it runs there on the CPU too.
  if ((loop.gpu || options_.optimizer().keras_epsilon()) && !multi_tensor_) {
    multi_tensor_ =
        std::make_unique<MultiTensorStep>(*optimizer_, options_.optimizer(), lr_multipliers_);
  }
  if (multi_tensor_) {
    multi_tensor_->on_warning([&callbacks](const std::string& m) { callbacks.on_warning(m); });
  }
  const Dataset train = on_device(train_set, device_);
  const Dataset validation = on_device(validation_set, device_);
  if (state_.global_step == 0) start_from_data(train, norm);
  if (group_) {
    ProcessGroup* group = group_.get();
    if (options_.sync_batchnorm()) {
      network_->synchronize_batch_norm(
          [group](const torch::Tensor& values) { return group->sum_differentiable(values); });
      loop.join_empty = true;
    }
    // Every process starts from rank 0's weights and statistics; dropout draws its own stream.
    group->broadcast(network_->parameters());
    group->broadcast(network_->buffers());
    torch::manual_seed(options_.seed() * 1000003ULL + static_cast<uint64_t>(state_.global_step) +
                       static_cast<uint64_t>(group->rank()) * 7919ULL);
  }
  callbacks.on_train_begin(*this);
  EarlyStoppingVerdict verdict = early_stopping();
  FitStatus status = FitStatus::kCompleted;
  while (state_.epoch < options_.epochs() && verdict.stopped_epoch == 0) {
    // The plateau schedule's rate for this epoch follows from the epochs before it.
    if (loop.plateau) {
      loop.lr = plateau_lr(options_.schedule(), options_.optimizer().lr(), history_.epochs);
    }
    // A graph recorded with a layer's gradients records them still.
    if (network_->freeze_finished_layers(state_.epoch)) graph_.reset();
    callbacks.on_epoch_begin(state_.epoch, options_.epochs(), loop.steps_per_epoch);
    const bool stop = run_epoch(loop, train, norm);
    if (state_.step_in_epoch < loop.steps_per_epoch) {
      status = FitStatus::kInterrupted;  // stopped inside the epoch
      break;
    }
    verdict = end_epoch(loop, validation, norm);
    if (verdict.stopped_epoch > 0) {
      callbacks.on_early_stop(verdict);
    } else if (stop && state_.epoch < options_.epochs()) {
      status = FitStatus::kInterrupted;
      break;
    }
  }
  // The run ends with the best epoch's weights, unless it ends on that epoch.
  if (status == FitStatus::kCompleted && options_.early_stopping().restore_best_weights() &&
      verdict.best_epoch > 0 && !history_.epochs.empty() &&
      verdict.best_epoch != history_.epochs.back().epoch) {
    restore_best_weights(loop);
  }
  callbacks.on_train_end(status, *this);
  return status;
}

}  // namespace cnnlab
