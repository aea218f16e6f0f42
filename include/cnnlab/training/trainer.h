#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "cnnlab/data/augment.h"
#include "cnnlab/data/dataset.h"
#include "cnnlab/models/network.h"
#include "cnnlab/training/callbacks.h"
#include "cnnlab/training/cuda_graph.h"
#include "cnnlab/training/distributed.h"
#include "cnnlab/training/early_stopping.h"
#include "cnnlab/training/evaluate.h"
#include "cnnlab/training/history.h"
#include "cnnlab/training/lookahead.h"
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
  /// With a process group (see Trainer): batch norm normalises by the statistics of the whole
  /// global batch, summed over the processes (PyTorch's SyncBatchNorm), instead of each process's
  /// share (DDP's default). Then 2 processes train exactly as 1 on the same global batch, batch
  /// norm included.
  TORCH_ARG(bool, sync_batchnorm) = false;
  /// Stop once a monitored figure stops improving (Keras' EarlyStopping). While it is enabled,
  /// checkpoints/best.pt follows the monitored figure instead of the validation accuracy.
  TORCH_ARG(EarlyStoppingOptions, early_stopping) = {};
  /// Lookahead over a moving average of the weights (off by default).
  TORCH_ARG(LookaheadOptions, lookahead) = {};
  /// Test-time augmentation of the test set's evaluation after training (validation is not
  /// augmented).
  TORCH_ARG(TestTimeAugmentation, tta) = TestTimeAugmentation::kNone;
};

/// Throws ConfigError naming the option when a value is out of range.
void validate(const TrainerOptions& options);

/// Where a run stands: enough, with the model and optimizer, to continue exactly.
struct TrainingState {
  int64_t epoch = 0;          // 0-based epoch in progress (== epochs when finished)
  int64_t step_in_epoch = 0;  // steps of `epoch` already done
  int64_t global_step = 0;    // optimizer steps done over the run
  double best_val_accuracy = -1;
  // Running sums of the epoch in progress, so its averages continue after a resume.
  double epoch_loss_sum = 0;
  double epoch_correct = 0;
  int64_t epoch_seen = 0;
  double epoch_seconds = 0;
  /// State of LibTorch's default CPU generator (dropout), uint8.
  torch::Tensor rng_state;
  /// Lookahead's slow weights (see averaged_weights), where it is on.
  std::vector<torch::Tensor> lookahead;
};

/// Trains a Network with Keras' fit() semantics, and tells its callbacks what happens: the
/// trainer itself reads and writes no files (the run layer's RunWriter keeps a run directory).
///
/// Checkpoints are due (Callback::on_checkpoint) at every epoch end (and every
/// checkpoint_every_steps, and when a stop is requested), only after steps whose losses were read
/// and found finite; the best one when validation accuracy improves (with early stopping: when
/// the monitored figure improves), before the last. A run that early stopping ends is complete:
/// fit() returns kCompleted, and a resumed fit() trains no further. With restore_best_weights
/// the run ends with the best epoch's weights, and the last checkpoint is due again. A trainer
/// restored from a checkpoint (restore()) continues exactly: it ends with the same weights as
/// one never interrupted (same seed, same thread count, CPU). On a GPU the step is the same but
/// its arithmetic is not bit-reproducible (cuDNN picks algorithms by speed).
///
/// With `group`, training is data-parallel over its processes, as PyTorch's DDP: every global
/// batch of batch_size images is split evenly over the processes, gradients are summed over them
/// in buckets (weighted by each share's size, so the update is the one a single process makes on
/// the whole batch), and batch-norm statistics follow rank 0's (DDP's broadcast_buffers). Every
/// process gets the same events; only rank 0 should keep a run directory. CPU only (Gloo).
class Trainer {
 public:
  Trainer(Network network, TrainerOptions options, std::shared_ptr<ProcessGroup> group = nullptr);
  ~Trainer();
  Trainer(Trainer&&) noexcept;

  /// Continues from a checkpoint: the network and optimizer hold its weights and state already;
  /// `state` is where it stood, `history` what the run did until then (later records are
  /// dropped). Sets LibTorch's default generator to the saved state; throws CheckpointError when
  /// that state is invalid.
  void restore(TrainingState state, History history);
  /// Keeps a copy of the network's weights (parameters and buffers) as the best epoch's, for
  /// early_stopping.restore_best_weights. fit() calls it when an epoch improves; after restore(),
  /// the caller calls it with the best epoch's weights loaded, when it has them.
  void remember_best_weights();

  /// Trains until options.epochs are done or a callback asks to stop. Throws DivergenceError
  /// (naming epoch, step and learning rate) when the loss stops being finite (unless such
  /// batches are skipped); no checkpoint is due after the step that diverged.
  /// train / validation: as Dataset documents; `validation` may be empty.
  FitStatus fit(const Dataset& train, const Dataset& validation, const Normalization& norm,
                Callback& callbacks);
  FitStatus fit(const Dataset& train, const Dataset& validation, const Normalization& norm,
                const TrainerCallbacks& callbacks = {});

  Network& network() { return network_; }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  const TrainerOptions& options() const { return options_; }
  ProcessGroup* process_group() const { return group_.get(); }
  /// The device the network and the training batches live on.
  const torch::Device& device() const { return device_; }
  /// How the training steps ran, for benchmarks and logs: "eager" (one operation at a time),
  /// "cuda-graph" (replayed), with "+fused" or "+foreach" for the optimizer update.
  std::string step_mode() const;
  const History& history() const { return history_; }
  /// Early stopping's view of the epochs done (all zero when it is disabled).
  EarlyStoppingVerdict early_stopping() const;
  /// Where training stands; rng_state is that of LibTorch's default generator as of the last
  /// checkpoint due.
  const TrainingState& state() const { return state_; }

 private:
  // Before the first step: kernels computed from the training data, Lookahead's first weights.
  void start_from_data(const Dataset& train, const Normalization& norm);
  struct Loop;
  struct PendingSteps;
  struct GraphStep;
  struct StepOutcome;
  /// The training batch of global step `step`: selected, augmented and normalised.
  torch::Tensor training_batch(const Dataset& train, const torch::Tensor& index,
                               const Normalization& norm, int64_t step) const;
  torch::Tensor epoch_order(int64_t epoch, int64_t n) const;
  /// Runs the steps of the epoch in progress; returns whether a stop was requested.
  bool run_epoch(Loop& loop, const Dataset& train, const Normalization& norm);
  /// One training step: the forward pass, loss, backward pass and optimizer update, replayed as
  /// a CUDA graph where one is recorded; across processes, the exchanges of DDP.
  StepOutcome train_step(Loop& loop, const torch::Tensor& x, const torch::Tensor& y,
                         int64_t batch_size, double lr);
  /// The forward pass and loss of every kind of step: the loss of (x, y) with the l2 term, to
  /// run backward from, and the number of correct predictions (a device scalar). Drops the
  /// gradients of the step before.
  std::pair<torch::Tensor, torch::Tensor> forward_loss(const torch::Tensor& x,
                                                       const torch::Tensor& y);
  /// Records the training step as a CUDA graph on this batch (which it trains on); returns its
  /// loss and correct count, or nothing when the step cannot be recorded.
  std::optional<std::pair<torch::Tensor, torch::Tensor>> record_graph(Loop& loop,
                                                                      const torch::Tensor& x,
                                                                      const torch::Tensor& y,
                                                                      double lr);
  void optimizer_step(double lr);
  /// Reads the metrics of the steps run since the last read (waiting for the device), checks
  /// their losses and turns them into history, running sums and events.
  void read_pending(Loop& loop);
  /// Validates the finished epoch, records it and tells the callbacks; returns the verdict.
  EarlyStoppingVerdict end_epoch(Loop& loop, const Dataset& validation, const Normalization& norm);
  void checkpoint_due(Loop& loop, CheckpointKind kind);
  /// Puts the remembered best weights back (rank 0's, across processes).
  void restore_best_weights(Loop& loop);

  Network network_;
  TrainerOptions options_;
  std::shared_ptr<ProcessGroup> group_;
  torch::Device device_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<MultiTensorStep> multi_tensor_;  // on a GPU
  std::unique_ptr<GraphStep> graph_;
  bool graph_failed_ = false;
  int64_t eager_full_steps_ = 0;  // full-size eager steps on a GPU, before recording a graph
  TrainingState state_;
  History history_;
  std::vector<torch::Tensor> best_weights_;  // parameters then buffers, with restore_best_weights
  std::vector<double> lr_multipliers_;       // of the optimizer's parameter groups
  Lookahead lookahead_;
};

}  // namespace cnnlab
