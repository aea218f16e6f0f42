#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cnnlab/training/early_stopping.h"
#include "cnnlab/training/history.h"

namespace cnnlab {

class Trainer;

enum class FitStatus { kCompleted, kInterrupted };

struct StepEvent {
  int64_t epoch = 0;  // 0-based
  int64_t step = 0;   // 1-based within the epoch
  int64_t steps_per_epoch = 0;
  int64_t global_step = 0;  // 1-based over the run
  double loss = 0;          // mean over the epoch so far (with the l2 term), as Keras shows
  double accuracy = 0;      // mean over the epoch so far
  double lr = 0;
  double epoch_seconds = 0;  // wall time of this epoch so far
  /// This batch alone, as the history keeps it (a skipped batch: its loss, accuracy 0).
  StepRecord record;
};

/// The checkpoints a run keeps: the state after the latest step saved, and the best epoch's.
enum class CheckpointKind { kLast, kBest };

/// Receives a Trainer's events, as a Keras callback does. Every method does nothing unless
/// overridden. Events come in this order: train begin; per epoch, epoch begin, batch end per
/// step (batch skipped first, for a batch skipped for a non-finite loss), epoch end, then the
/// checkpoints due (best before last), a reduced learning rate and early stopping; at the end,
/// restored best weights (with the last checkpoint due again) and train end. A checkpoint is
/// also due inside an epoch every checkpoint_every_steps and when a stop is requested.
class Callback {
 public:
  virtual ~Callback() = default;
  /// fit() starts; the trainer's history holds what a resumed run did already.
  virtual void on_train_begin(Trainer& /*trainer*/) {}
  virtual void on_epoch_begin(int64_t /*epoch*/, int64_t /*epochs*/, int64_t /*steps_per_epoch*/) {}
  virtual void on_batch_end(const StepEvent& /*event*/) {}
  /// A batch skipped because its loss was not finite (NonFiniteLoss::kSkip).
  virtual void on_batch_skipped(const StepEvent& /*event*/, double /*loss*/) {}
  /// The epoch is done and validated; the trainer's state already points at the next one.
  virtual void on_epoch_end(const EpochRecord& /*record*/, Trainer& /*trainer*/) {}
  /// The trainer's state (network, optimizer, TrainingState) should be kept as `kind` now.
  virtual void on_checkpoint(CheckpointKind /*kind*/, Trainer& /*trainer*/) {}
  /// The plateau schedule lowered the learning rate, after `epoch` (1-based), to `lr`.
  virtual void on_learning_rate_reduced(int64_t /*epoch*/, double /*lr*/) {}
  /// Training stops early (after on_epoch_end of the epoch that decided it).
  virtual void on_early_stop(const EarlyStoppingVerdict& /*verdict*/) {}
  /// The weights of the best epoch were restored (early_stopping.restore_best_weights).
  virtual void on_best_weights_restored(const EarlyStoppingVerdict& /*verdict*/) {}
  /// Something the user should know that does not stop training.
  virtual void on_warning(const std::string& /*message*/) {}
  virtual void on_train_end(FitStatus /*status*/, Trainer& /*trainer*/) {}
  /// Polled after every step; true makes fit() ask for a checkpoint and return
  /// FitStatus::kInterrupted (used for Ctrl-C).
  virtual bool stop_requested() { return false; }
};

/// Several callbacks called in turn, in the order given (Keras' CallbackList). Does not own them.
class CallbackList final : public Callback {
 public:
  CallbackList() = default;
  CallbackList(std::initializer_list<Callback*> callbacks);
  void add(Callback& callback) { callbacks_.push_back(&callback); }

  void on_train_begin(Trainer& trainer) override;
  void on_epoch_begin(int64_t epoch, int64_t epochs, int64_t steps_per_epoch) override;
  void on_batch_end(const StepEvent& event) override;
  void on_batch_skipped(const StepEvent& event, double loss) override;
  void on_epoch_end(const EpochRecord& record, Trainer& trainer) override;
  void on_checkpoint(CheckpointKind kind, Trainer& trainer) override;
  void on_learning_rate_reduced(int64_t epoch, double lr) override;
  void on_early_stop(const EarlyStoppingVerdict& verdict) override;
  void on_best_weights_restored(const EarlyStoppingVerdict& verdict) override;
  void on_warning(const std::string& message) override;
  void on_train_end(FitStatus status, Trainer& trainer) override;
  /// Whether any of them asks to stop (all are asked).
  bool stop_requested() override;

 private:
  std::vector<Callback*> callbacks_;
};

/// Functions for some of the events, each optional (Keras' LambdaCallback).
struct TrainerCallbacks {
  std::function<void(Trainer&)> on_train_begin;
  std::function<void(int64_t epoch, int64_t epochs, int64_t steps_per_epoch)> on_epoch_begin;
  std::function<void(const StepEvent&)> on_step_end;
  std::function<void(const EpochRecord&)> on_epoch_end;
  std::function<void(const StepEvent&, double loss)> on_batch_skipped;
  std::function<void(int64_t epoch, double lr)> on_learning_rate_reduced;
  std::function<void(const EarlyStoppingVerdict&)> on_early_stop;
  std::function<void(const EarlyStoppingVerdict&)> on_best_weights_restored;
  std::function<void(const std::string&)> on_warning;
  std::function<bool()> stop_requested;
  /// The test set's evaluation once training ends: (batches done, batches), first with 0.
  std::function<void(int64_t done, int64_t total)> on_test_batch_end;
};

/// A Callback that calls the functions of a TrainerCallbacks.
class LambdaCallback final : public Callback {
 public:
  explicit LambdaCallback(TrainerCallbacks functions) : f_(std::move(functions)) {}
  void on_train_begin(Trainer& trainer) override;
  void on_epoch_begin(int64_t epoch, int64_t epochs, int64_t steps_per_epoch) override;
  void on_batch_end(const StepEvent& event) override;
  void on_batch_skipped(const StepEvent& event, double loss) override;
  void on_epoch_end(const EpochRecord& record, Trainer& trainer) override;
  void on_learning_rate_reduced(int64_t epoch, double lr) override;
  void on_early_stop(const EarlyStoppingVerdict& verdict) override;
  void on_best_weights_restored(const EarlyStoppingVerdict& verdict) override;
  void on_warning(const std::string& message) override;
  bool stop_requested() override;

 private:
  TrainerCallbacks f_;
};

}  // namespace cnnlab
