#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <memory>

#include "cnnlab/data/augment.h"
#include "cnnlab/data/dataset.h"
#include "cnnlab/models/network.h"
#include "cnnlab/training/checkpoint.h"
#include "cnnlab/training/history.h"
#include "cnnlab/training/lr_schedule.h"
#include "cnnlab/training/optimizer.h"
#include "cnnlab/training/precision.h"

namespace cnnlab {

/// What a step whose loss is NaN or infinite does: stop the run (Keras' TerminateOnNaN), or skip
/// the batch (no optimizer step) and go on.
enum class NonFiniteLoss { kStop, kSkip };

/// "stop" / "skip".
std::string nonfinite_loss_name(NonFiniteLoss policy);
/// Throws ConfigError naming `where` for anything but "stop" and "skip".
NonFiniteLoss parse_nonfinite_loss(const std::string& text, const std::string& where);

/// Everything that shapes a training run, with the study's defaults (Adam, batch 64, 5 epochs).
struct TrainerOptions {
  TORCH_ARG(int64_t, epochs) = 5;
  TORCH_ARG(int64_t, batch_size) = 64;
  TORCH_ARG(OptimizerOptions, optimizer) = {};
  TORCH_ARG(ScheduleOptions, schedule) = {};
  /// Cross-entropy label smoothing in [0, 1).
  TORCH_ARG(double, label_smoothing) = 0.0;
  /// Seeds weight initialisation, the shuffling of every epoch and dropout.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Batch size for validation and test evaluation (no gradients, so larger is faster).
  TORCH_ARG(int64_t, eval_batch_size) = 1000;
  /// Also save a checkpoint every this many steps inside an epoch (0: at epoch ends only).
  TORCH_ARG(int64_t, checkpoint_every_steps) = 0;
  /// Random augmentation of every training batch (validation and test images are never
  /// augmented). Drawn from a generator seeded by (seed, global step), so a resumed run sees the
  /// same batches as an uninterrupted one.
  TORCH_ARG(AugmentOptions, augment) = {};
  /// Arithmetic of the forward pass in training and evaluation (weights stay float32).
  TORCH_ARG(Precision, precision) = Precision::kAuto;
  /// Prepare the next batch (selection, augmentation, normalisation) on a helper thread while
  /// the current step runs; batches are the same either way. Off by default: where the step's
  /// thread pool already has every core, the helper thread takes a core from it and the step
  /// slows more than the overlap gains (`bench/run` measures both).
  TORCH_ARG(bool, prefetch) = false;
  /// A batch whose loss is not finite stops the run (DivergenceError) or is skipped. Skipped
  /// batches do not count in the epoch's averages; an epoch whose batches were all skipped
  /// stops the run all the same.
  TORCH_ARG(NonFiniteLoss, nonfinite_loss) = NonFiniteLoss::kStop;
};

/// Throws ConfigError naming the option when a value is out of range.
void validate(const TrainerOptions& options);

struct StepEvent {
  int64_t epoch = 0;  // 0-based
  int64_t step = 0;   // 1-based within the epoch
  int64_t steps_per_epoch = 0;
  int64_t global_step = 0;  // 1-based over the run
  double loss = 0;          // mean over the epoch so far (with the l2 term), as Keras shows
  double accuracy = 0;      // mean over the epoch so far
  double lr = 0;
  double epoch_seconds = 0;  // wall time of this epoch so far
};

struct TrainerCallbacks {
  std::function<void(int64_t epoch, int64_t epochs, int64_t steps_per_epoch)> on_epoch_begin;
  std::function<void(const StepEvent&)> on_step_end;
  std::function<void(const EpochRecord&)> on_epoch_end;
  /// A batch skipped because its loss was not finite (NonFiniteLoss::kSkip).
  std::function<void(const StepEvent&, double loss)> on_batch_skipped;
  /// Polled after every step; returning true makes fit() save a checkpoint and return
  /// FitStatus::kInterrupted (used for Ctrl-C).
  std::function<bool()> stop_requested;
};

enum class FitStatus { kCompleted, kInterrupted };

/// Trains a Network with Keras' fit() semantics and keeps a run directory up to date.
///
/// Contract: before fit(), `run_dir` exists and is writable (or is empty: nothing is written).
/// During fit(), steps.csv and epochs.csv gain a line per step / epoch, flushed at once, and
/// checkpoints/last.pt is replaced atomically at every epoch end (and every
/// checkpoint_every_steps), checkpoints/best.pt when validation accuracy improves. A crash at any
/// moment leaves the previous checkpoint readable; resume() then continues from it, and a run
/// resumed this way ends with the same weights as one never interrupted (same seed, same
/// thread count, CPU).
class Trainer {
 public:
  Trainer(Network network, TrainerOptions options, std::filesystem::path run_dir);

  /// Restores model, optimizer, schedule position, RNG and history from
  /// run_dir/checkpoints/last.pt and returns true. A run stopped before its first checkpoint has
  /// none: then nothing is restored, the history is dropped and fit() starts from the beginning
  /// (returns false). Throws CheckpointError when the checkpoint is unreadable or belongs to
  /// another model.
  bool resume();

  /// Trains until options.epochs are done or stop_requested() returns true. Throws
  /// DivergenceError (naming epoch, step and learning rate) when the loss stops being finite
  /// (unless such batches are skipped); the last checkpoint written before stays valid.
  /// train / validation: as Dataset documents; `validation` may be empty.
  FitStatus fit(const Dataset& train, const Dataset& validation, const Normalization& norm,
                const TrainerCallbacks& callbacks = {});

  Network& network() { return network_; }
  const History& history() const { return history_; }
  const TrainingState& state() const { return state_; }

 private:
  void save_checkpoint(const std::filesystem::path& path);
  torch::Tensor epoch_order(int64_t epoch, int64_t n) const;
  /// The training batch of global step `step`: selected, augmented and normalised.
  torch::Tensor training_batch(const Dataset& train, const torch::Tensor& index,
                               const Normalization& norm, int64_t step) const;

  Network network_;
  TrainerOptions options_;
  std::filesystem::path run_dir_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  TrainingState state_;
  History history_;
};

}  // namespace cnnlab
