#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <memory>

#include "cnnlab/data/augment.h"
#include "cnnlab/data/dataset.h"
#include "cnnlab/models/network.h"
#include "cnnlab/training/checkpoint.h"
#include "cnnlab/training/cuda_graph.h"
#include "cnnlab/training/distributed.h"
#include "cnnlab/training/early_stopping.h"
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
  /// Where the run computes: "cpu", "cuda", "cuda:N" or "auto" (see resolve_device). On a GPU
  /// the training and validation images move to it once, as uint8, when they fit (else each
  /// batch is copied over), and batches are prepared (augmented, normalised) there.
  TORCH_ARG(std::string, device) = "cpu";
  /// How many steps' loss and accuracy are read back from the device at once (0: 1 on the CPU,
  /// 50 on a GPU). Reading waits for the device, so the GPU works ahead in between; the history,
  /// the progress and a non-finite loss (named by its step) are reported at each read, and
  /// checkpoints are written only after one. With nonfinite_loss = skip every step is read.
  TORCH_ARG(int64_t, sync_every_steps) = 0;
  /// On a GPU, record the whole training step (forward, backward, optimizer update) once as a
  /// CUDA graph and replay it for every full-size batch: one launch instead of hundreds. Needs
  /// the fused optimizer kernels of LibTorch 2.x and nonfinite_loss = stop; otherwise, and for an
  /// epoch's last short batch, steps run one operation at a time.
  TORCH_ARG(bool, cuda_graphs) = true;
  /// Data-parallel training over the processes of this group (null: this process alone), as
  /// PyTorch's DDP: every global batch of batch_size images is split evenly over the processes,
  /// gradients are summed over them in buckets (weighted by each share's size, so the update is
  /// the one a single process makes on the whole batch), batch-norm statistics follow rank 0's
  /// (DDP's broadcast_buffers), and only rank 0 writes the run directory. CPU only (Gloo).
  TORCH_ARG(std::shared_ptr<ProcessGroup>, process_group) = nullptr;
  /// With a process group: batch norm normalises by the statistics of the whole global batch,
  /// summed over the processes (PyTorch's SyncBatchNorm), instead of each process's share (DDP's
  /// default). Then 2 processes train exactly as 1 on the same global batch, batch norm included.
  TORCH_ARG(bool, sync_batchnorm) = false;
  /// Stop once a monitored figure stops improving (Keras' EarlyStopping). While it is enabled,
  /// checkpoints/best.pt follows the monitored figure instead of the validation accuracy.
  TORCH_ARG(EarlyStoppingOptions, early_stopping) = {};
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
  /// The plateau schedule lowered the learning rate, after `epoch` (1-based), to `lr`.
  std::function<void(int64_t epoch, double lr)> on_learning_rate_reduced;
  /// Training stops early (after on_epoch_end of the epoch that decided it).
  std::function<void(const EarlyStoppingVerdict&)> on_early_stop;
  /// The weights of the best epoch were restored (early_stopping.restore_best_weights).
  std::function<void(const EarlyStoppingVerdict&)> on_best_weights_restored;
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
/// checkpoint_every_steps), checkpoints/best.pt when validation accuracy improves (with early
/// stopping: when the monitored figure improves). A run that early stopping ends is complete:
/// fit() returns kCompleted, and a resumed fit() trains no further. With restore_best_weights
/// the run ends with the best epoch's weights, and last.pt is rewritten with them. A crash at any
/// moment leaves the previous checkpoint readable; resume() then continues from it, and a run
/// resumed this way ends with the same weights as one never interrupted (same seed, same
/// thread count, CPU). On a GPU the step is the same but its arithmetic is not bit-reproducible
/// (cuDNN picks algorithms by speed).
class Trainer {
 public:
  Trainer(Network network, TrainerOptions options, std::filesystem::path run_dir);
  ~Trainer();
  Trainer(Trainer&&) noexcept;

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
  /// The device the network and the training batches live on.
  const torch::Device& device() const { return device_; }
  /// How the training steps ran, for benchmarks and logs: "eager" (one operation at a time),
  /// "cuda-graph" (replayed), with "+fused" or "+foreach" for the optimizer update.
  std::string step_mode() const;
  const History& history() const { return history_; }
  /// Early stopping's view of the epochs done (all zero when it is disabled).
  EarlyStoppingVerdict early_stopping() const;
  const TrainingState& state() const { return state_; }

 private:
  struct PendingSteps;
  struct GraphStep;
  void save_checkpoint(const std::filesystem::path& path);
  /// Reads the metrics of the steps run since the last read (waiting for the device), checks
  /// their losses and turns them into history lines, running sums and callbacks.
  void read_pending(PendingSteps& pending, HistoryWriter& writer, int64_t steps_per_epoch,
                    const TrainerCallbacks& callbacks, double epoch_seconds);
  /// One optimizer step on (x, y); returns the detached loss and number of correct predictions
  /// as device scalars. Replays the CUDA graph when one is recorded for this batch shape.
  std::pair<torch::Tensor, torch::Tensor> run_step(const torch::Tensor& x, const torch::Tensor& y,
                                                   double lr, bool may_record);
  void optimizer_step(double lr);
  torch::Tensor epoch_order(int64_t epoch, int64_t n) const;
  /// Keeps a copy of the weights (parameters and buffers) for restore_best_weights.
  void remember_best_weights();
  /// Puts the remembered best weights back (rank 0's, across processes) and rewrites last.pt.
  void restore_best_weights(const TrainerCallbacks& callbacks);
  /// The training batch of global step `step`: selected, augmented and normalised.
  torch::Tensor training_batch(const Dataset& train, const torch::Tensor& index,
                               const Normalization& norm, int64_t step) const;

  Network network_;
  TrainerOptions options_;
  std::filesystem::path run_dir_;
  torch::Device device_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<MultiTensorStep> multi_tensor_;  // on a GPU
  std::unique_ptr<GraphStep> graph_;
  bool graph_failed_ = false;
  bool writes_ = true;  // this process writes the run directory (rank 0, or the only process)
  int64_t eager_full_steps_ = 0;  // full-size eager steps on a GPU, before recording a graph
  TrainingState state_;
  History history_;
  std::vector<torch::Tensor> best_weights_;  // parameters then buffers, with restore_best_weights
};

}  // namespace cnnlab
