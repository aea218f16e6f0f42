#include "cnnlab/training/history.h"

#include <fmt/format.h>

#include <cmath>
#include <string>

#include "cnnlab/error.h"

namespace cnnlab {

void check_monitor(const std::string& monitor, const std::string& where) {
  for (const char* known : {"val_loss", "val_accuracy", "loss", "accuracy"}) {
    if (monitor == known) return;
  }
  throw ConfigError(fmt::format(
      "{}: expected one of val_loss, val_accuracy, loss, accuracy, found '{}'", where, monitor));
}

bool monitors_validation(const std::string& monitor) { return monitor.rfind("val_", 0) == 0; }

double monitored_value(const std::string& monitor, const EpochRecord& epoch) {
  if (monitor == "val_loss") return epoch.val_loss;
  if (monitor == "val_accuracy") return epoch.val_accuracy;
  if (monitor == "loss") return epoch.loss;
  if (monitor == "accuracy") return epoch.accuracy;
  return NAN;
}

bool improves(const std::string& monitor, double value, double best, double min_delta) {
  if (!std::isfinite(value)) return false;
  const bool lower = monitor == "val_loss" || monitor == "loss";
  return lower ? value < best - min_delta : value > best + min_delta;
}

}  // namespace cnnlab
