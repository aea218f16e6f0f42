#pragma once

#include "cnnlab/run/history_files.h"
#include "cnnlab/run/run_dir.h"
#include "cnnlab/training/trainer.h"

namespace cnnlab {

/// Keeps a run directory up to date while a Trainer trains; in a distributed run, rank 0 alone
/// has one. The directory must exist. steps.csv and epochs.csv gain a line per step and epoch,
/// flushed at once (at the start they are rewritten to hold just the trainer's history, which
/// drops the lines a resumed run will train again); weights/epoch-NNN.json is written at every
/// epoch end; the checkpoints the trainer says are due are replaced atomically, so that a crash
/// at any moment leaves the previous one readable.
class RunWriter final : public Callback {
 public:
  explicit RunWriter(RunDir dir) : dir_(std::move(dir)) {}

  void on_train_begin(Trainer& trainer) override;
  void on_batch_end(const StepEvent& event) override;
  void on_epoch_end(const EpochRecord& record, Trainer& trainer) override;
  void on_checkpoint(CheckpointKind kind, Trainer& trainer) override;

 private:
  RunDir dir_;
  HistoryWriter history_;
};

/// Restores `trainer` from the last checkpoint of `dir` (model, optimizer, schedule position,
/// random-number state and history) and returns true; with restore_best_weights, also the best
/// epoch's weights from the best checkpoint when it holds that epoch (a crash can leave it one
/// epoch ahead of the last; that epoch then runs again). A run stopped before its first
/// checkpoint has none: then nothing is restored and fit() starts from the beginning (returns
/// false). Throws CheckpointError naming the file when it is unreadable or belongs to another
/// model.
bool resume_trainer(Trainer& trainer, const RunDir& dir);

}  // namespace cnnlab
