#include "cnnlab/training/lr_schedule.h"

#include <fmt/format.h>

#include <cmath>

#include "cnnlab/error.h"

namespace cnnlab {

namespace {
constexpr double kPi = 3.14159265358979323846;

double cosine_between(double from, double to, double progress) {
  return to + (from - to) * 0.5 * (1.0 + std::cos(kPi * std::clamp(progress, 0.0, 1.0)));
}
}  // namespace

const char* schedule_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::kConstant:
      return "constant";
    case ScheduleKind::kStep:
      return "step";
    case ScheduleKind::kCosine:
      return "cosine";
    case ScheduleKind::kOneCycle:
      return "onecycle";
  }
  return "?";
}

ScheduleKind parse_schedule(const std::string& text, const std::string& where) {
  for (auto kind : {ScheduleKind::kConstant, ScheduleKind::kStep, ScheduleKind::kCosine,
                    ScheduleKind::kOneCycle}) {
    if (text == schedule_name(kind)) return kind;
  }
  throw ConfigError(fmt::format(
      "{}: unknown schedule '{}': expected one of constant, step, cosine, onecycle", where, text));
}

double lr_at(const ScheduleOptions& options, double lr, int64_t step, int64_t total_steps,
             int64_t steps_per_epoch) {
  const double spe = static_cast<double>(std::max<int64_t>(steps_per_epoch, 1));
  const double warmup = options.warmup_epochs() * spe;
  const double s = static_cast<double>(step);
  const double total = static_cast<double>(std::max<int64_t>(total_steps, 1));
  const double floor_lr = lr * options.final_ratio();
  double value = lr;
  switch (options.kind()) {
    case ScheduleKind::kConstant:
      break;
    case ScheduleKind::kStep: {
      const double period = std::max(options.step_epochs() * spe, 1.0);
      value = lr * std::pow(options.gamma(), std::floor(s / period));
      break;
    }
    case ScheduleKind::kCosine: {
      const double span = std::max(total - warmup, 1.0);
      value = cosine_between(lr, floor_lr, (s - warmup) / span);
      break;
    }
    case ScheduleKind::kOneCycle: {
      // Rises from lr/25 to lr over pct_start of training, then anneals to final_ratio·lr.
      const double rise = std::max(options.pct_start() * total, 1.0);
      value = s < rise ? cosine_between(lr / 25.0, lr, s / rise)
                       : cosine_between(lr, floor_lr, (s - rise) / std::max(total - rise, 1.0));
      break;
    }
  }
  if (warmup > 0 && s < warmup && options.kind() != ScheduleKind::kOneCycle) {
    value *= (s + 1.0) / warmup;
  }
  return value;
}

}  // namespace cnnlab
