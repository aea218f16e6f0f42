#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace cnnlab {

enum class ScheduleKind { kConstant, kStep, kCosine, kOneCycle };

const char* schedule_name(ScheduleKind kind);
/// Throws ConfigError naming `where` and the accepted values.
ScheduleKind parse_schedule(const std::string& text, const std::string& where);

/// How the learning rate moves over training; all lengths are in epochs (fractions allowed) and
/// converted to steps with the number of steps per epoch.
struct ScheduleOptions {
  /// constant: lr throughout; step: lr·gamma^⌊epoch/step_epochs⌋; cosine: half a cosine from lr
  /// down to lr·final_ratio; onecycle: up from lr/25 to lr over pct_start of training, then a
  /// cosine down to lr·final_ratio.
  TORCH_ARG(ScheduleKind, kind) = ScheduleKind::kConstant;
  /// Linear warm-up from 0 to the schedule's value over this many epochs.
  TORCH_ARG(double, warmup_epochs) = 0.0;
  /// step schedule: epochs between decays and the decay factor.
  TORCH_ARG(double, step_epochs) = 1.0;
  TORCH_ARG(double, gamma) = 0.1;
  /// cosine and one-cycle: the final learning rate as a fraction of the peak.
  TORCH_ARG(double, final_ratio) = 0.0;
  /// one-cycle: fraction of training spent rising to the peak (after which it anneals).
  TORCH_ARG(double, pct_start) = 0.25;
};

/// Learning rate at `step` (0-based, counting every optimizer step) of `total_steps`, for a peak
/// rate `lr`. Pure function: resuming from a checkpoint recomputes the same value.
double lr_at(const ScheduleOptions& options, double lr, int64_t step, int64_t total_steps,
             int64_t steps_per_epoch);

}  // namespace cnnlab
