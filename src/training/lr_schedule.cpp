#include "cnnlab/training/lr_schedule.h"

#include <fmt/format.h>

#include <cmath>

#include "cnnlab/error.h"

namespace cnnlab {

namespace {
constexpr double kPi = 3.14159265358979323846;

double line_between(double from, double to, double progress) {
  return from + (to - from) * std::clamp(progress, 0.0, 1.0);
}

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
    case ScheduleKind::kPlateau:
      return "plateau";
  }
  return "?";
}

ScheduleKind parse_schedule(const std::string& text, const std::string& where) {
  for (auto kind : {ScheduleKind::kConstant, ScheduleKind::kStep, ScheduleKind::kCosine,
                    ScheduleKind::kOneCycle, ScheduleKind::kPlateau}) {
    if (text == schedule_name(kind)) return kind;
  }
  throw ConfigError(fmt::format(
      "{}: unknown schedule '{}': expected one of constant, step, cosine, onecycle, plateau", where,
      text));
}

void validate(const ScheduleOptions& options) {
  if (options.warmup_epochs() < 0 || !(options.step_epochs() > 0) || !(options.gamma() > 0) ||
      options.final_ratio() < 0 || !(options.pct_start() > 0 && options.pct_start() < 1) ||
      !(options.start_ratio() >= 0)) {
    throw ConfigError(
        "train.schedule: options out of range: expected warmup_epochs ≥ 0, step_epochs > 0, "
        "gamma > 0, final_ratio ≥ 0, 0 < pct_start < 1, start_ratio ≥ 0");
  }
  check_monitor(options.plateau_monitor(), "train.plateau_monitor");
  if (options.kind() == ScheduleKind::kPlateau && !(options.gamma() < 1)) {
    throw ConfigError(fmt::format(
        "train.gamma: the plateau schedule multiplies the learning rate by gamma: expected a "
        "value in (0, 1), found {}",
        options.gamma()));
  }
  if (options.plateau_patience() < 0 || options.plateau_cooldown() < 0) {
    throw ConfigError(fmt::format(
        "train.plateau_patience, train.plateau_cooldown: expected counts ≥ 0, found {} and {}",
        options.plateau_patience(), options.plateau_cooldown()));
  }
  if (!(options.plateau_min_delta() >= 0) || !(options.min_lr() >= 0)) {
    throw ConfigError(
        fmt::format("train.plateau_min_delta, train.min_lr: expected values ≥ 0, found {} and {}",
                    options.plateau_min_delta(), options.min_lr()));
  }
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
    case ScheduleKind::kPlateau:  // lr is already the plateau's rate
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
      // Rises from start_ratio·lr to lr over pct_start of training, then anneals to
      // final_ratio·lr, along half cosines or straight lines.
      const double rise = std::max(options.pct_start() * total, 1.0);
      const auto between = options.linear_anneal() ? line_between : cosine_between;
      value = s < rise ? between(lr * options.start_ratio(), lr, s / rise)
                       : between(lr, floor_lr, (s - rise) / std::max(total - rise, 1.0));
      break;
    }
  }
  if (warmup > 0 && s < warmup && options.kind() != ScheduleKind::kOneCycle) {
    value *= (s + 1.0) / warmup;
  }
  return value;
}

double plateau_lr(const ScheduleOptions& options, double lr,
                  const std::vector<EpochRecord>& epochs) {
  const std::string& monitor = options.plateau_monitor();
  double best = NAN;
  int64_t wait = 0, cooldown = 0;
  for (const auto& epoch : epochs) {
    const double value = monitored_value(monitor, epoch);
    if (cooldown > 0) {
      --cooldown;
      wait = 0;
    }
    const bool improved = std::isnan(best)
                              ? std::isfinite(value)
                              : improves(monitor, value, best, options.plateau_min_delta());
    if (improved) {
      best = value;
      wait = 0;
    } else if (cooldown == 0 && ++wait >= options.plateau_patience()) {
      // Keras compares the rate with min_lr in float32.
      if (static_cast<float>(lr) > static_cast<float>(options.min_lr())) {
        lr = std::max(lr * options.gamma(), options.min_lr());
        cooldown = options.plateau_cooldown();
        wait = 0;
      }
    }
  }
  return lr;
}

}  // namespace cnnlab
