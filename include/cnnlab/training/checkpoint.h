#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "cnnlab/models/network.h"

namespace cnnlab {

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
};

/// Writes model weights, optimizer state and training state to `path` atomically (via a
/// temporary file and a rename): a crash leaves the previous file intact. The architecture
/// fingerprint goes along so that load_checkpoint can refuse another model's weights.
/// Throws IoError when the file cannot be written.
void save_checkpoint(const std::filesystem::path& path, NetworkImpl& network,
                     torch::optim::Optimizer* optimizer, const TrainingState& state);

/// Loads a checkpoint written by save_checkpoint into `network` (and `optimizer`, when given).
/// Throws CheckpointError naming the file when it is missing, unreadable, or was saved from a
/// model with another architecture (the message shows both).
TrainingState load_checkpoint(const std::filesystem::path& path, NetworkImpl& network,
                              torch::optim::Optimizer* optimizer);

}  // namespace cnnlab
