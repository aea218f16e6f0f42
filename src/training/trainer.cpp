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
#include "cnnlab/training/weight_history.h"

namespace cnnlab {
namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace {

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

// Metrics of the steps run since the last read, still on the device: row 0 the losses, row 1
// the numbers of correct predictions.
struct Trainer::PendingSteps {
  struct Step {
    int64_t epoch, step, global_step, batch;
    double lr;
  };
  std::vector<Step> steps;
  torch::Tensor metrics;
};

Trainer::Trainer(Network network, TrainerOptions options, fs::path run_dir)
    : network_(std::move(network)),
      options_(std::move(options)),
      run_dir_(std::move(run_dir)),
      device_(torch::kCPU) {
  validate(options_);
  device_ = resolve_device(options_.device(), "train.device");
  const auto& group = options_.process_group();
  if (group && device_.is_cuda()) {
    throw ConfigError(
        "train.device: training across processes runs on the CPU (Gloo); use "
        "--device cpu, or one process for a GPU");
  }
  writes_ = !run_dir_.empty() && (!group || group->rank() == 0);
  prepare_device(device_);
  network_->to(device_);
  optimizer_ = make_optimizer(options_.optimizer(), network_->parameters());
}

Trainer::~Trainer() = default;
Trainer::Trainer(Trainer&&) noexcept = default;

std::string Trainer::step_mode() const {
  std::string mode = graph_ ? "cuda-graph" : "eager";
  if (multi_tensor_) mode += multi_tensor_->fused() ? "+fused" : "+foreach";
  return mode;
}

bool Trainer::resume() {
  if (run_dir_.empty()) throw CheckpointError("resume needs a run directory");
  const fs::path last = run_dir_ / "checkpoints" / "last.pt";
  std::error_code ec;
  if (!fs::exists(last, ec)) {
    history_ = History{};
    return false;
  }
  state_ = load_checkpoint(last, *network_, optimizer_.get());
  multi_tensor_.reset();  // its copies of the optimizer state are stale
  graph_.reset();
  if (state_.rng_state.defined()) {
    try {
      set_default_rng_state(state_.rng_state);
    } catch (const c10::Error& e) {
      throw CheckpointError(fmt::format("{}: the saved random-number state is invalid: {}",
                                        last.string(), torch_error_message(e)));
    }
  }
  History history = read_history(run_dir_);
  // Lines written after the checkpoint describe steps that will run again: drop them.
  History kept;
  for (const auto& step : history.steps) {
    if (step.global_step <= state_.global_step) kept.steps.push_back(step);
  }
  for (const auto& epoch : history.epochs) {
    if (epoch.epoch <= state_.epoch) kept.epochs.push_back(epoch);
  }
  history_ = std::move(kept);
  // The best epoch's weights, for restore_best_weights, come from best.pt when it holds that
  // epoch (a crash can leave it one epoch ahead of last.pt; that epoch runs again).
  const EarlyStoppingVerdict verdict = early_stopping();
  const fs::path best = run_dir_ / "checkpoints" / "best.pt";
  if (options_.early_stopping().restore_best_weights() && verdict.best_epoch > 0 &&
      fs::exists(best, ec)) {
    if (load_checkpoint(best, *network_, nullptr).epoch == verdict.best_epoch) {
      remember_best_weights();
    }
    load_checkpoint(last, *network_, nullptr);
  }
  return true;
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

void Trainer::restore_best_weights(const TrainerCallbacks& callbacks) {
  const EarlyStoppingVerdict verdict = early_stopping();
  const auto& group = options_.process_group();
  if (best_weights_.empty() && (!group || group->rank() == 0)) {
    throw CheckpointError(fmt::format(
        "{}: missing, or not from epoch {}: the best epoch's weights cannot be restored "
        "(early_stopping.restore_best_weights)",
        (run_dir_ / "checkpoints" / "best.pt").string(), verdict.best_epoch));
  }
  {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> weights = network_->parameters();
    for (const auto& b : network_->buffers()) weights.push_back(b);
    if (!best_weights_.empty()) {
      for (std::size_t i = 0; i < weights.size(); ++i) weights[i].copy_(best_weights_[i]);
    }
  }
  if (group) {
    // Rank 0's copy: a process resumed on another machine may have none.
    group->broadcast(network_->parameters());
    group->broadcast(network_->buffers());
  }
  if (writes_) save_checkpoint(run_dir_ / "checkpoints" / "last.pt");
  if (callbacks.on_best_weights_restored) callbacks.on_best_weights_restored(verdict);
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
    const auto rank =
        static_cast<uint64_t>(options_.process_group() ? options_.process_group()->rank() : 0);
    auto generator = at::detail::createCPUGenerator(options_.seed() * 0x9E3779B97F4A7C15ULL +
                                                    static_cast<uint64_t>(step) + 0x5DEECE66DULL +
                                                    rank * 0x2545F4914F6CDD1DULL);
    x = augment_batch(x, options_.augment(), generator);
  }
  // Images kept on the CPU (a GPU without room for them) travel one batch at a time.
  return normalize_(x, norm).to(device_, /*non_blocking=*/true);
}

void Trainer::save_checkpoint(const fs::path& path) {
  state_.rng_state = default_rng_state();
  cnnlab::save_checkpoint(path, *network_, optimizer_.get(), state_);
}

void Trainer::optimizer_step(double lr) {
  if (multi_tensor_) {
    multi_tensor_->step(lr);
  } else {
    optimizer_->step();
  }
}

std::pair<torch::Tensor, torch::Tensor> Trainer::run_step(const torch::Tensor& x,
                                                          const torch::Tensor& y, double lr,
                                                          bool may_record) {
  const auto loss_options =
      F::CrossEntropyFuncOptions().label_smoothing(options_.label_smoothing());
  const bool has_l2 = network_->has_l2();
  // Gradients are dropped rather than zeroed: backward then writes them afresh instead of
  // adding to a buffer of zeros (PyTorch's zero_grad(set_to_none=True)).
  const auto forward_backward = [&](const torch::Tensor& input, const torch::Tensor& labels) {
    for (auto& parameter : network_->parameters()) parameter.mutable_grad().reset();
    torch::Tensor logits;
    {
      PrecisionGuard guard(options_.precision(), device_);
      logits = network_->forward(input).to(torch::kFloat32);
    }
    auto loss = F::cross_entropy(logits, labels, loss_options);
    if (has_l2) loss = loss + network_->l2_penalty();
    loss.backward();
    return std::make_pair(loss.detach(), logits.detach().argmax(1).eq(labels).sum());
  };

  const bool graphable = device_.is_cuda() && options_.cuda_graphs() && multi_tensor_ &&
                         multi_tensor_->capturable() && x.size(0) == options_.batch_size();
  if (graph_ && graphable) {
    graph_->x.copy_(x);
    graph_->y.copy_(y);
    graph_->lr.fill_(lr);
    graph_->graph->replay();
    multi_tensor_->count_replayed_step();
    // The caller copies these out before the next replay overwrites them.
    return {graph_->loss, graph_->correct};
  }
  // A few eager steps first: cuDNN's algorithm search and the memory pool settle before the
  // step is recorded.
  if (graphable && may_record && !graph_failed_ && ++eager_full_steps_ > 2) {
    auto step = std::make_unique<GraphStep>();
    step->x = x.clone();
    step->y = y.clone();
    step->lr = torch::full({}, lr, x.options().dtype(torch::kFloat32));
    GraphStep* g = step.get();
    bool warmed_up = false;
    try {
      step->graph = std::make_unique<CudaGraph>(
          [&, g](bool recording) {
            auto [loss, correct] = forward_backward(g->x, g->y);
            multi_tensor_->step(g->lr, /*count_on_host=*/!recording);
            g->loss = loss;
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
      fmt::print(stderr,
                 "cnnlab: warning: recording the training step as a CUDA graph failed ({}); "
                 "training goes on one operation at a time\n",
                 torch_error_message(e));
      for (auto& parameter : network_->parameters()) parameter.mutable_grad().reset();
      // The warm-up stepped on this batch before the recording failed.
      return {g->loss, g->correct};
    }
  }
  auto result = forward_backward(x, y);
  optimizer_step(lr);
  return result;
}

void Trainer::read_pending(PendingSteps& pending, HistoryWriter& writer, int64_t steps_per_epoch,
                           const TrainerCallbacks& callbacks, double epoch_seconds) {
  if (pending.steps.empty()) return;
  const auto n = static_cast<int64_t>(pending.steps.size());
  const auto metrics = pending.metrics.slice(1, 0, n).to(torch::kCPU);  // waits for the device
  const auto* loss = metrics.data_ptr<double>();
  const auto* correct = loss + metrics.stride(0);
  for (int64_t i = 0; i < n; ++i) {
    const auto& step = pending.steps[i];
    if (!std::isfinite(loss[i])) {
      pending.steps.clear();
      throw DivergenceError(fmt::format(
          "training diverged at epoch {}, step {}: the loss became {}. The learning rate ({:g}) "
          "is likely too high; the last checkpoint before this step is kept. (Set "
          "train.nonfinite_loss = \"skip\" to skip such batches instead.)",
          step.epoch + 1, step.step, loss[i], step.lr));
    }
    const auto batch_size = static_cast<double>(step.batch);
    state_.epoch_loss_sum += loss[i] * batch_size;
    state_.epoch_correct += correct[i];
    state_.epoch_seen += step.batch;
    StepRecord record{step.epoch + 1, step.global_step, loss[i], correct[i] / batch_size, step.lr};
    history_.steps.push_back(record);
    if (writer.is_open()) writer.append(record);
    if (callbacks.on_step_end) {
      const double seen = static_cast<double>(std::max<int64_t>(state_.epoch_seen, 1));
      callbacks.on_step_end(StepEvent{step.epoch, step.step, steps_per_epoch, step.global_step,
                                      state_.epoch_loss_sum / seen, state_.epoch_correct / seen,
                                      step.lr, epoch_seconds});
    }
  }
  pending.steps.clear();
}

FitStatus Trainer::fit(const Dataset& train_set, const Dataset& validation_set,
                       const Normalization& norm, const TrainerCallbacks& callbacks) {
  if (train_set.size() == 0) throw ConfigError("train: the training set is empty");
  const auto& stopping = options_.early_stopping();
  const bool plateau = options_.schedule().kind() == ScheduleKind::kPlateau;
  for (const auto& [used, monitor, where] :
       {std::tuple{stopping.enabled(), stopping.monitor(), "early_stopping.monitor"},
        std::tuple{plateau, options_.schedule().plateau_monitor(), "train.plateau_monitor"}}) {
    if (used && monitors_validation(monitor) && validation_set.size() == 0) {
      throw ConfigError(fmt::format(
          "{}: '{}' needs a validation set, and this run has none (data.validation_split = 0); "
          "set a validation split, or monitor \"loss\" or \"accuracy\"",
          where, monitor));
    }
  }
  const int64_t n = train_set.size();
  const int64_t batch = options_.batch_size();
  const int64_t steps_per_epoch = (n + batch - 1) / batch;
  const int64_t total_steps = steps_per_epoch * options_.epochs();
  const fs::path checkpoint_dir = run_dir_ / "checkpoints";
  HistoryWriter writer;
  if (writes_) {
    fs::create_directories(checkpoint_dir);
    writer.open(run_dir_, &history_);
  }
  double lr = options_.optimizer().lr();
  const bool gpu = device_.is_cuda();
  if (gpu && !multi_tensor_) {
    multi_tensor_ = std::make_unique<MultiTensorStep>(*optimizer_, options_.optimizer());
  }
  // On a GPU the images move over once, as uint8, when they fit.
  const auto on_device = [&](const Dataset& data) {
    if (!gpu || data.size() == 0) return data;
    try {
      Dataset moved = data;
      moved.images = data.images.to(device_);
      moved.labels = data.labels.to(device_);
      return moved;
    } catch (const c10::Error&) {
      return data;  // no room: batches are copied over one at a time
    }
  };
  const Dataset train = on_device(train_set);
  const Dataset validation = on_device(validation_set);
  ProcessGroup* group = options_.process_group().get();
  if (group && options_.sync_batchnorm()) {
    network_->synchronize_batch_norm(
        [group](const torch::Tensor& values) { return group->sum_differentiable(values); });
  }
  // With synchronised batch norm, a process whose share of a batch is empty still joins the
  // exchanges of the forward and backward passes.
  const bool join_empty = group && options_.sync_batchnorm();
  if (group) {
    // Every process starts from rank 0's weights and statistics; dropout draws its own stream.
    group->broadcast(network_->parameters());
    group->broadcast(network_->buffers());
    torch::manual_seed(options_.seed() * 1000003ULL + static_cast<uint64_t>(state_.global_step) +
                       static_cast<uint64_t>(group->rank()) * 7919ULL);
  }
  // Metrics are read every `sync_every` steps (1: at once, before the optimizer steps).
  // A distributed run reads them every step: its processes agree on the loss as they go.
  const int64_t sync_every = options_.nonfinite_loss() == NonFiniteLoss::kSkip || group ? 1
                             : options_.sync_every_steps() > 0 ? options_.sync_every_steps()
                             : gpu                             ? 50
                                                               : 1;
  PendingSteps pending;
  if (sync_every > 1) {
    pending.metrics = torch::zeros({2, sync_every},
                                   torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  }

  EarlyStoppingVerdict verdict = early_stopping();
  while (state_.epoch < options_.epochs() && verdict.stopped_epoch == 0) {
    const int64_t epoch = state_.epoch;
    // The plateau schedule's rate for this epoch follows from the epochs before it.
    if (plateau) lr = plateau_lr(options_.schedule(), options_.optimizer().lr(), history_.epochs);
    if (callbacks.on_epoch_begin)
      callbacks.on_epoch_begin(epoch, options_.epochs(), steps_per_epoch);
    const auto order = epoch_order(epoch, n).to(train.images.device(), /*non_blocking=*/true);
    const auto start = Clock::now();
    const double seconds_before = state_.epoch_seconds;
    const auto epoch_seconds = [&] { return seconds_before + seconds_since(start); };
    network_->train();
    bool stop = false, stop_everywhere = false;
    int64_t skipped = 0;  // batches of this epoch skipped for a non-finite loss (since resuming)
    std::future<torch::Tensor> pending_batch;  // the next step's batch, when prefetching
    while (state_.step_in_epoch < steps_per_epoch) {
      const int64_t begin = state_.step_in_epoch * batch;
      auto index = order.slice(0, begin, std::min(begin + batch, n));
      if (group) {
        // This process's even share of the global batch.
        const int64_t size = index.size(0), world = group->world_size(), rank = group->rank();
        index = index.slice(0, size * rank / world, size * (rank + 1) / world);
      }
      const auto x = pending_batch.valid() ? pending_batch.get()
                                           : training_batch(train, index, norm, state_.global_step);
      if (options_.prefetch() && !gpu && !group && state_.step_in_epoch + 1 < steps_per_epoch) {
        const int64_t next = begin + batch;
        const auto next_index = order.slice(0, next, std::min(next + batch, n));
        pending_batch =
            std::async(std::launch::async, [&, next_index, step = state_.global_step + 1] {
              use_one_thread();
              torch::NoGradGuard no_grad;
              return training_batch(train, next_index, norm, step);
            });
      }
      const auto y = train.labels.index_select(0, index).to(device_, /*non_blocking=*/true);
      const double step_lr =
          lr_at(options_.schedule(), lr, state_.global_step, total_steps, steps_per_epoch);
      set_learning_rate(*optimizer_, step_lr);
      const int64_t batch_size = index.size(0);

      if (sync_every > 1) {
        // The step runs ahead of its metrics, which wait on the device until the next read.
        auto [loss, correct] = run_step(x, y, step_lr, /*may_record=*/true);
        const auto slot = static_cast<int64_t>(pending.steps.size());
        pending.metrics.select(1, slot).select(0, 0).copy_(loss);
        pending.metrics.select(1, slot).select(0, 1).copy_(correct);
        pending.steps.push_back(
            {epoch, state_.step_in_epoch + 1, state_.global_step + 1, batch_size, step_lr});
        ++state_.global_step;
        ++state_.step_in_epoch;
        if (static_cast<int64_t>(pending.steps.size()) == sync_every) {
          read_pending(pending, writer, steps_per_epoch, callbacks, epoch_seconds());
        }
      } else {
        for (auto& parameter : network_->parameters()) parameter.mutable_grad().reset();
        torch::Tensor logits, loss;
        double loss_value = 0, correct = 0, seen = static_cast<double>(batch_size);
        if (group) group->broadcast(network_->buffers());  // DDP's broadcast_buffers
        if (batch_size > 0 || join_empty) {
          {
            PrecisionGuard guard(options_.precision(), device_);
            logits = network_->forward(x).to(torch::kFloat32);
          }
          if (batch_size > 0) {
            loss = F::cross_entropy(
                logits, y,
                F::CrossEntropyFuncOptions().label_smoothing(options_.label_smoothing()));
            if (network_->has_l2()) loss = loss + network_->l2_penalty();
            loss_value = loss.item<double>();
          } else {
            loss = logits.sum() * 0.0;  // no images: only the exchanges of its backward pass
          }
        }
        if (group) {
          // One all-reduce: the batch's loss and accuracy over all processes, and whether any
          // was asked to stop (all stop after the same step).
          if (batch_size > 0) correct = logits.argmax(1).eq(y).sum().item<double>();
          auto totals =
              torch::tensor({loss_value * static_cast<double>(batch_size), correct, seen,
                             callbacks.stop_requested && callbacks.stop_requested() ? 1.0 : 0.0},
                            torch::kFloat64);
          group->all_reduce_sum(totals);
          seen = totals[2].item<double>();
          loss_value = totals[0].item<double>() / seen;
          correct = totals[1].item<double>();
          stop_everywhere = totals[3].item<double>() > 0;
        }
        const bool finite = std::isfinite(loss_value);
        if (!finite && options_.nonfinite_loss() == NonFiniteLoss::kStop) {
          throw DivergenceError(fmt::format(
              "training diverged at epoch {}, step {}: the loss became {}. The learning rate "
              "({:g}) is likely too high; the last checkpoint before this step is kept. (Set "
              "train.nonfinite_loss = \"skip\" to skip such batches instead.)",
              epoch + 1, state_.step_in_epoch + 1, loss_value, step_lr));
        }
        if (finite) {
          if (batch_size > 0 || join_empty) loss.backward();
          if (group) {
            // Each share's mean gradient, weighted by its size and summed: the gradient of the
            // whole batch's mean loss.
            torch::NoGradGuard no_grad;
            for (auto& p : network_->parameters()) {
              if (p.grad().defined()) p.mutable_grad().mul_(static_cast<double>(batch_size));
            }
            group->all_reduce_gradients(network_->parameters(), seen);
          }
          optimizer_step(step_lr);
          if (!group) correct = logits.argmax(1).eq(y).sum().item<double>();
          state_.epoch_loss_sum += loss_value * seen;
          state_.epoch_correct += correct;
          state_.epoch_seen += static_cast<int64_t>(seen);
        } else {
          ++skipped;
          if (callbacks.on_batch_skipped) {
            callbacks.on_batch_skipped(
                StepEvent{epoch, state_.step_in_epoch + 1, steps_per_epoch, state_.global_step + 1,
                          0, 0, step_lr, state_.epoch_seconds},
                loss_value);
          }
        }
        ++state_.global_step;
        ++state_.step_in_epoch;
        state_.epoch_seconds = epoch_seconds();

        StepRecord record{epoch + 1, state_.global_step, loss_value, correct / seen, step_lr};
        history_.steps.push_back(record);
        if (writer.is_open()) writer.append(record);
        if (callbacks.on_step_end) {
          const double seen = static_cast<double>(std::max<int64_t>(state_.epoch_seen, 1));
          callbacks.on_step_end(StepEvent{epoch, state_.step_in_epoch, steps_per_epoch,
                                          state_.global_step, state_.epoch_loss_sum / seen,
                                          state_.epoch_correct / seen, step_lr,
                                          state_.epoch_seconds});
        }
      }
      stop = group ? stop_everywhere : callbacks.stop_requested && callbacks.stop_requested();
      if (state_.step_in_epoch == steps_per_epoch) break;  // the epoch end saves and stops
      const bool periodic = options_.checkpoint_every_steps() > 0 &&
                            state_.global_step % options_.checkpoint_every_steps() == 0;
      if ((stop || periodic) && writes_) {
        // A checkpoint follows only steps whose losses were read and found finite.
        read_pending(pending, writer, steps_per_epoch, callbacks, epoch_seconds());
        state_.epoch_seconds = epoch_seconds();
        save_checkpoint(checkpoint_dir / "last.pt");
      }
      if (stop) {
        read_pending(pending, writer, steps_per_epoch, callbacks, epoch_seconds());
        return FitStatus::kInterrupted;
      }
    }
    read_pending(pending, writer, steps_per_epoch, callbacks, epoch_seconds());
    state_.epoch_seconds = epoch_seconds();

    if (state_.epoch_seen == 0 && skipped > 0) {
      throw DivergenceError(fmt::format(
          "training diverged in epoch {}: the loss of every batch was NaN or infinite, so all {} "
          "were skipped. The learning rate ({:g}) is likely too high; the last checkpoint before "
          "this epoch is kept.",
          epoch + 1, skipped, history_.steps.empty() ? lr : history_.steps.back().lr));
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
                                      options_.precision(), group);
      record.val_loss = val.loss;
      record.val_accuracy = val.accuracy;
    }
    record.lr = history_.steps.empty() ? lr : history_.steps.back().lr;
    record.seconds = epoch_seconds();
    record.steps = steps_per_epoch;
    history_.epochs.push_back(record);
    if (writer.is_open()) writer.append(record);

    const bool better_val_accuracy =
        validation.size() > 0 && record.val_accuracy > state_.best_val_accuracy;
    if (better_val_accuracy) state_.best_val_accuracy = record.val_accuracy;
    verdict = early_stopping();
    const bool improved =
        stopping.enabled() ? verdict.best_epoch == record.epoch : better_val_accuracy;
    if (improved && stopping.restore_best_weights()) remember_best_weights();
    // The state saved is "start of the next epoch".
    ++state_.epoch;
    state_.step_in_epoch = 0;
    state_.epoch_loss_sum = state_.epoch_correct = 0;
    state_.epoch_seen = 0;
    state_.epoch_seconds = 0;
    if (writes_) {
      write_weight_histograms(run_dir_, record.epoch, *network_);
      // best.pt first: a crash between the two writes then repeats the epoch, which finds the
      // same improvement and writes best.pt again; the other order could leave it stale.
      if (improved) save_checkpoint(checkpoint_dir / "best.pt");
      save_checkpoint(checkpoint_dir / "last.pt");
    }
    if (callbacks.on_epoch_end) callbacks.on_epoch_end(record);
    if (plateau && callbacks.on_learning_rate_reduced) {
      const double next =
          plateau_lr(options_.schedule(), options_.optimizer().lr(), history_.epochs);
      if (next < lr) callbacks.on_learning_rate_reduced(record.epoch, next);
    }
    if (verdict.stopped_epoch > 0) {
      if (callbacks.on_early_stop) callbacks.on_early_stop(verdict);
    } else if (stop && state_.epoch < options_.epochs()) {
      return FitStatus::kInterrupted;
    }
  }
  // The run ends with the best epoch's weights, unless it ends on that epoch.
  if (stopping.restore_best_weights() && verdict.best_epoch > 0 && !history_.epochs.empty() &&
      verdict.best_epoch != history_.epochs.back().epoch) {
    restore_best_weights(callbacks);
  }
  return FitStatus::kCompleted;
}

}  // namespace cnnlab
