#include "cnnlab/training/early_stopping.h"

#include <fmt/format.h>

#include <cmath>

#include "cnnlab/error.h"

namespace cnnlab {

namespace {
constexpr const char* kMonitors[] = {"val_loss", "val_accuracy", "loss", "accuracy"};

bool lower_is_better(const std::string& monitor) {
  return monitor == "val_loss" || monitor == "loss";
}
}  // namespace

void validate(const EarlyStoppingOptions& options) {
  bool known = false;
  for (const char* monitor : kMonitors) known = known || options.monitor() == monitor;
  if (!known) {
    throw ConfigError(fmt::format(
        "early_stopping.monitor: expected one of val_loss, val_accuracy, loss, accuracy, found "
        "'{}'",
        options.monitor()));
  }
  if (!(options.min_delta() >= 0)) {
    throw ConfigError(fmt::format("early_stopping.min_delta: expected a value ≥ 0, found {}",
                                  options.min_delta()));
  }
  if (options.patience() < 0) {
    throw ConfigError(
        fmt::format("early_stopping.patience: expected a count ≥ 0, found {}", options.patience()));
  }
  if (options.start_from_epoch() < 0) {
    throw ConfigError(fmt::format("early_stopping.start_from_epoch: expected a count ≥ 0, found {}",
                                  options.start_from_epoch()));
  }
}

bool monitors_validation(const std::string& monitor) { return monitor.rfind("val_", 0) == 0; }

double monitored_value(const std::string& monitor, const EpochRecord& epoch) {
  if (monitor == "val_loss") return epoch.val_loss;
  if (monitor == "val_accuracy") return epoch.val_accuracy;
  if (monitor == "loss") return epoch.loss;
  if (monitor == "accuracy") return epoch.accuracy;
  return NAN;
}

EarlyStoppingVerdict early_stopping_verdict(const EarlyStoppingOptions& options,
                                            const std::vector<EpochRecord>& epochs) {
  EarlyStoppingVerdict verdict;
  if (!options.enabled()) return verdict;
  const bool lower = lower_is_better(options.monitor());
  for (const auto& epoch : epochs) {
    if (verdict.stopped_epoch > 0) break;
    if (epoch.epoch <= options.start_from_epoch()) continue;
    const double value = monitored_value(options.monitor(), epoch);
    ++verdict.wait;
    const bool improved =
        std::isfinite(value) &&
        (verdict.best_epoch == 0 || (lower ? value < verdict.best_value - options.min_delta()
                                           : value > verdict.best_value + options.min_delta()));
    if (improved) {
      verdict.best_epoch = epoch.epoch;
      verdict.best_value = value;
      verdict.wait = 0;
    } else if (verdict.wait >= options.patience() && epoch.epoch > 1) {
      verdict.stopped_epoch = epoch.epoch;
    }
  }
  return verdict;
}

}  // namespace cnnlab
