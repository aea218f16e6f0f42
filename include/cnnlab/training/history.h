#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cnnlab {

struct StepRecord {
  int64_t epoch = 0;        // 1-based
  int64_t global_step = 0;  // 1-based
  double loss = 0;          // of this batch, with the l2 term
  double accuracy = 0;      // of this batch
  double lr = 0;
};

struct EpochRecord {
  int64_t epoch = 0;  // 1-based
  int64_t epochs = 0;
  double loss = 0;
  double accuracy = 0;
  double val_loss = 0;  // NaN without a validation set
  double val_accuracy = 0;
  double lr = 0;
  double seconds = 0;
  int64_t steps = 0;
};

/// The figures of an epoch that early stopping and the plateau schedule watch ("monitors"):
/// val_loss, val_accuracy, loss, accuracy. Throws ConfigError naming `where` for another name.
void check_monitor(const std::string& monitor, const std::string& where);
/// Whether `monitor` needs a validation set (val_loss, val_accuracy).
bool monitors_validation(const std::string& monitor);
/// The monitored figure of one epoch (NaN where the epoch has none, e.g. no validation set).
double monitored_value(const std::string& monitor, const EpochRecord& epoch);
/// Whether `value` is better than `best` by more than `min_delta`: lower for losses, higher for
/// accuracies. A NaN never improves.
bool improves(const std::string& monitor, double value, double best, double min_delta);

/// The learning curve (every step) and the per-epoch metrics of a run.
struct History {
  std::vector<StepRecord> steps;
  std::vector<EpochRecord> epochs;
};

}  // namespace cnnlab
