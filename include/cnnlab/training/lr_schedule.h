#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cnnlab/training/history.h"

namespace cnnlab {

enum class ScheduleKind { kConstant, kStep, kCosine, kOneCycle, kPlateau };

const char* schedule_name(ScheduleKind kind);
/// Throws ConfigError naming `where` and the accepted values.
ScheduleKind parse_schedule(const std::string& text, const std::string& where);

/// How the learning rate moves over training; all lengths are in epochs (fractions allowed) and
/// converted to steps with the number of steps per epoch.
struct ScheduleOptions {
  /// constant: lr throughout; step: lr·gamma^⌊epoch/step_epochs⌋; cosine: half a cosine from lr
  /// down to lr·final_ratio; onecycle: up from lr·start_ratio to lr over pct_start of training,
  /// then a cosine (or line, with linear_anneal) down to lr·final_ratio; plateau: lr, times gamma
  /// whenever plateau_monitor stops improving (Keras' ReduceLROnPlateau, see plateau_lr).
  TORCH_ARG(ScheduleKind, kind) = ScheduleKind::kConstant;
  /// Linear warm-up from 0 to the schedule's value over this many epochs.
  TORCH_ARG(double, warmup_epochs) = 0.0;
  /// step schedule: epochs between decays and the decay factor (plateau: the factor too).
  TORCH_ARG(double, step_epochs) = 1.0;
  TORCH_ARG(double, gamma) = 0.1;
  /// cosine and one-cycle: the final learning rate as a fraction of the peak.
  TORCH_ARG(double, final_ratio) = 0.0;
  /// one-cycle: fraction of training spent rising to the peak (after which it anneals).
  TORCH_ARG(double, pct_start) = 0.25;
  /// one-cycle: where the rise starts, as a fraction of the peak (PyTorch's 1/div_factor).
  TORCH_ARG(double, start_ratio) = 1.0 / 25.0;
  /// one-cycle: the shape of the rise and the fall, half cosines (true) or straight lines
  /// (PyTorch's anneal_strategy "cos" / "linear").
  TORCH_ARG(bool, linear_anneal) = false;
  /// plateau: the figure watched (val_loss | val_accuracy | loss | accuracy), the epochs
  /// without an improvement larger than plateau_min_delta before each reduction, the epochs
  /// of rest after one, and the learning rate never gone below. Keras' defaults.
  TORCH_ARG(std::string, plateau_monitor) = "val_loss";
  TORCH_ARG(int64_t, plateau_patience) = 10;
  TORCH_ARG(double, plateau_min_delta) = 1e-4;
  TORCH_ARG(int64_t, plateau_cooldown) = 0;
  TORCH_ARG(double, min_lr) = 0.0;
};

/// Throws ConfigError naming the option (train.<key>) when a value is out of range.
void validate(const ScheduleOptions& options);

/// Learning rate at `step` (0-based, counting every optimizer step) of `total_steps`, for a peak
/// rate `lr` (plateau: the rate plateau_lr gives). Pure function: resuming from a checkpoint
/// recomputes the same value.
double lr_at(const ScheduleOptions& options, double lr, int64_t step, int64_t total_steps,
             int64_t steps_per_epoch);

/// The plateau schedule's learning rate after `epochs` (in order), replaying Keras'
/// ReduceLROnPlateau from `lr`: an epoch better than the best so far by more than
/// plateau_min_delta resets the count; after plateau_patience epochs without one the rate is
/// multiplied by gamma (not below min_lr, and only while above it), and the next
/// plateau_cooldown epochs are not counted. Depends only on the history, so a resumed run
/// continues at the same rate.
double plateau_lr(const ScheduleOptions& options, double lr,
                  const std::vector<EpochRecord>& epochs);

}  // namespace cnnlab
