#include "cnnlab/run/run_writer.h"

#include "cnnlab/error.h"
#include "cnnlab/run/checkpoint.h"
#include "cnnlab/run/weight_history.h"

namespace cnnlab {
namespace fs = std::filesystem;

void RunWriter::on_train_begin(Trainer& trainer) {
  fs::create_directories(dir_.checkpoints());
  history_.open(dir_, &trainer.history());
}

void RunWriter::on_batch_end(const StepEvent& event) { history_.append(event.record); }

void RunWriter::on_epoch_end(const EpochRecord& record, Trainer& trainer) {
  history_.append(record);
  write_weight_histograms(dir_, record.epoch, *trainer.network());
}

void RunWriter::on_checkpoint(CheckpointKind kind, Trainer& trainer) {
  save_checkpoint(dir_.checkpoint(kind), *trainer.network(), &trainer.optimizer(), trainer.state());
}

bool resume_trainer(Trainer& trainer, const RunDir& dir) {
  const fs::path last = dir.checkpoint(CheckpointKind::kLast);
  std::error_code ec;
  if (!fs::exists(last, ec)) return false;
  TrainingState state = load_checkpoint(last, *trainer.network(), &trainer.optimizer());
  try {
    trainer.restore(std::move(state), read_history(dir));
  } catch (const CheckpointError& e) {
    throw CheckpointError(last.string() + ": " + e.what());
  }
  const EarlyStoppingVerdict verdict = trainer.early_stopping();
  const fs::path best = dir.checkpoint(CheckpointKind::kBest);
  if (trainer.options().early_stopping().restore_best_weights() && verdict.best_epoch > 0 &&
      fs::exists(best, ec)) {
    if (load_checkpoint(best, *trainer.network(), nullptr).epoch == verdict.best_epoch) {
      trainer.remember_best_weights();
    }
    load_checkpoint(last, *trainer.network(), nullptr);
  }
  return true;
}

}  // namespace cnnlab
