#include "cnnlab/training/early_stopping.h"

#include <fmt/format.h>

#include <cmath>

#include "cnnlab/error.h"

namespace cnnlab {

void validate(const EarlyStoppingOptions& options) {
  check_monitor(options.monitor(), "early_stopping.monitor");
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

EarlyStoppingVerdict early_stopping_verdict(const EarlyStoppingOptions& options,
                                            const std::vector<EpochRecord>& epochs) {
  EarlyStoppingVerdict verdict;
  if (!options.enabled()) return verdict;
  for (const auto& epoch : epochs) {
    if (verdict.stopped_epoch > 0) break;
    if (epoch.epoch <= options.start_from_epoch()) continue;
    const double value = monitored_value(options.monitor(), epoch);
    ++verdict.wait;
    const bool improved =
        verdict.best_epoch == 0
            ? std::isfinite(value)
            : improves(options.monitor(), value, verdict.best_value, options.min_delta());
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
