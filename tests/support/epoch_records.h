#pragma once

#include <cstdint>
#include <vector>

#include "cnnlab/training/history.h"

namespace cnnlab::testing {

/// Epochs 1, 2, … of a made-up history whose validation loss takes the given values: validation
/// accuracy is 1 − loss, the training loss falls every epoch and the training accuracy never
/// moves from 0.5.
inline std::vector<EpochRecord> epochs_with_val_loss(const std::vector<double>& losses) {
  std::vector<EpochRecord> epochs;
  for (std::size_t i = 0; i < losses.size(); ++i) {
    EpochRecord record;
    record.epoch = static_cast<int64_t>(i) + 1;
    record.epochs = 100;
    record.val_loss = losses[i];
    record.val_accuracy = 1.0 - losses[i];
    record.loss = 10.0 - static_cast<double>(i);
    record.accuracy = 0.5;
    epochs.push_back(record);
  }
  return epochs;
}

}  // namespace cnnlab::testing
