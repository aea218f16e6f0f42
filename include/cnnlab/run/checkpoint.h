#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "cnnlab/models/network.h"
#include "cnnlab/training/trainer.h"

namespace cnnlab {

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
