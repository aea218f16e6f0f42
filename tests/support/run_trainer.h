#pragma once

#include <filesystem>

#include "cnnlab/run/run_writer.h"
#include "cnnlab/training/trainer.h"

namespace cnnlab::testing {

/// A Trainer that keeps a run directory as train_run does: its fit() writes the history,
/// weight histograms and checkpoints there (a RunWriter before the given callbacks), and
/// resume() continues from them.
class RunTrainer : public Trainer {
 public:
  RunTrainer(Network network, TrainerOptions options, std::filesystem::path dir)
      : Trainer(std::move(network), std::move(options)), dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
  }

  FitStatus fit(const Dataset& train, const Dataset& validation, const Normalization& norm,
                const TrainerCallbacks& functions = {}) {
    RunWriter writer(dir_);
    LambdaCallback user(functions);
    CallbackList callbacks{&writer, &user};
    return Trainer::fit(train, validation, norm, callbacks);
  }

  bool resume() { return resume_trainer(*this, dir_); }

 private:
  std::filesystem::path dir_;
};

}  // namespace cnnlab::testing
