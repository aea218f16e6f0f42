#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cnnlab/training/history.h"

namespace cnnlab {

/// Keras' EarlyStopping callback: stop training once a monitored figure has stopped improving.
struct EarlyStoppingOptions {
  TORCH_ARG(bool, enabled) = false;
  /// val_loss | val_accuracy | loss | accuracy (losses must fall, accuracies rise; see
  /// check_monitor).
  TORCH_ARG(std::string, monitor) = "val_loss";
  /// A change smaller than this (absolute) is no improvement.
  TORCH_ARG(double, min_delta) = 0.0;
  /// Epochs without improvement after which training stops.
  TORCH_ARG(int64_t, patience) = 0;
  /// Epochs (from the start of the run) that are neither monitored nor counted, as a warm-up.
  TORCH_ARG(int64_t, start_from_epoch) = 0;
  /// The run ends with the weights of its best epoch. Unlike Keras, whose callback restores
  /// them only when it stops the run itself, also when the run reaches its last epoch.
  TORCH_ARG(bool, restore_best_weights) = false;
};

/// Throws ConfigError naming the option (early_stopping.<key>) when a value is out of range.
void validate(const EarlyStoppingOptions& options);

/// Where a run stands after the epochs it has finished.
struct EarlyStoppingVerdict {
  int64_t best_epoch = 0;     // 1-based; 0 while no epoch has been monitored
  double best_value = 0;      // the monitored figure of best_epoch
  int64_t wait = 0;           // monitored epochs since best_epoch
  int64_t stopped_epoch = 0;  // 1-based epoch after which training stops; 0: it goes on
};

/// Replays Keras' EarlyStopping over `epochs` (in order, 1-based numbers): an epoch improves on
/// the best so far when it is better by more than min_delta (a NaN never improves); after
/// `patience` epochs without improvement (and not on the first epoch) training stops. Depends
/// only on the history, so a resumed run reaches the same verdict as an uninterrupted one.
EarlyStoppingVerdict early_stopping_verdict(const EarlyStoppingOptions& options,
                                            const std::vector<EpochRecord>& epochs);

}  // namespace cnnlab
