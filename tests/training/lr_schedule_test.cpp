#include "cnnlab/training/lr_schedule.h"

#include <gtest/gtest.h>

#include <cmath>

#include "cnnlab/error.h"
#include "support/epoch_records.h"

namespace cnnlab {
namespace {

using testing::epochs_with_val_loss;

// The plateau schedule's rate after each prefix of `epochs` (index 0: before any epoch).
std::vector<double> plateau_rates(const ScheduleOptions& options,
                                  const std::vector<EpochRecord>& epochs) {
  std::vector<double> rates;
  for (std::size_t n = 0; n <= epochs.size(); ++n) {
    rates.push_back(
        plateau_lr(options, 1.0, std::vector<EpochRecord>(epochs.begin(), epochs.begin() + n)));
  }
  return rates;
}

ScheduleOptions plateau() {
  return ScheduleOptions().kind(ScheduleKind::kPlateau).gamma(0.5).plateau_patience(2);
}

TEST(LrScheduleTest, PlateauReducesAfterPatienceEpochsWithoutImprovement) {
  const auto epochs = epochs_with_val_loss({1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.85, 0.85});
  EXPECT_EQ(plateau_rates(plateau(), epochs),
            (std::vector<double>{1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25}));
  // An improvement smaller than plateau_min_delta counts as none.
  const auto small_steps = epochs_with_val_loss({1.0, 0.99, 0.98, 0.97});
  EXPECT_EQ(plateau_lr(plateau(), 1.0, small_steps), 1.0);
  EXPECT_EQ(plateau_lr(plateau().plateau_min_delta(0.05), 1.0, small_steps), 0.5);
  // Accuracies must rise, losses fall: here both improve every epoch, neither is reduced.
  const auto falling = epochs_with_val_loss({1.0, 0.9, 0.8, 0.7});
  EXPECT_EQ(plateau_lr(plateau(), 1.0, falling), 1.0);
  EXPECT_EQ(plateau_lr(plateau().plateau_monitor("val_accuracy"), 1.0, falling), 1.0);
  EXPECT_EQ(plateau_lr(plateau().plateau_monitor("val_accuracy"), 1.0,
                       epochs_with_val_loss({0.5, 0.6, 0.7, 0.8})),
            0.5);
  // lr is not the plateau's business in lr_at: it passes the rate through, warm-up aside.
  EXPECT_DOUBLE_EQ(lr_at(plateau(), 0.25, 500, 1000, 100), 0.25);
}

TEST(LrScheduleTest, PlateauCooldownAndMinLrFollowKeras) {
  const auto flat = epochs_with_val_loss({1, 1, 1, 1, 1});
  const auto eager = [] { return plateau().plateau_patience(1); };
  EXPECT_EQ(plateau_rates(eager(), flat), (std::vector<double>{1, 1, 0.5, 0.25, 0.125, 0.0625}));
  // Keras counts the epoch that ends the cooldown already: a cooldown of 2 rests one epoch.
  EXPECT_EQ(plateau_rates(eager().plateau_cooldown(2), flat),
            (std::vector<double>{1, 1, 0.5, 0.5, 0.25, 0.25}));
  EXPECT_EQ(plateau_rates(eager().min_lr(0.3), flat),
            (std::vector<double>{1, 1, 0.5, 0.3, 0.3, 0.3}));
  // A NaN never improves: epochs 1 and 3 each reduce the rate.
  EXPECT_EQ(plateau_lr(eager(), 1.0, epochs_with_val_loss({NAN, 1.0, NAN})), 0.25);
}

TEST(LrScheduleTest, PlateauOptionsAreChecked) {
  EXPECT_NO_THROW(validate(plateau()));
  EXPECT_THROW(validate(plateau().plateau_monitor("val_acc")), ConfigError);
  EXPECT_THROW(validate(plateau().plateau_patience(-1)), ConfigError);
  EXPECT_THROW(validate(plateau().min_lr(-1)), ConfigError);
  try {
    validate(plateau().gamma(2));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("train.gamma: the plateau schedule multiplies"),
              std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(validate(ScheduleOptions().kind(ScheduleKind::kStep).gamma(2)));
}

TEST(LrScheduleTest, ConstantStaysPut) {
  EXPECT_DOUBLE_EQ(lr_at(ScheduleOptions(), 0.1, 500, 1000, 100), 0.1);
}

TEST(LrScheduleTest, StepDecaysEveryPeriod) {
  const auto options = ScheduleOptions().kind(ScheduleKind::kStep).step_epochs(2).gamma(0.5);
  EXPECT_DOUBLE_EQ(lr_at(options, 1.0, 199, 1000, 100), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(options, 1.0, 200, 1000, 100), 0.5);
  EXPECT_DOUBLE_EQ(lr_at(options, 1.0, 450, 1000, 100), 0.25);
}

TEST(LrScheduleTest, CosineGoesFromPeakToFloor) {
  const auto options = ScheduleOptions().kind(ScheduleKind::kCosine).final_ratio(0.1);
  EXPECT_DOUBLE_EQ(lr_at(options, 1.0, 0, 1000, 100), 1.0);
  EXPECT_NEAR(lr_at(options, 1.0, 500, 1000, 100), 0.55, 1e-12);
  EXPECT_NEAR(lr_at(options, 1.0, 1000, 1000, 100), 0.1, 1e-12);
}

TEST(LrScheduleTest, WarmupRampsLinearly) {
  const auto options = ScheduleOptions().kind(ScheduleKind::kConstant).warmup_epochs(1);
  EXPECT_NEAR(lr_at(options, 1.0, 0, 1000, 100), 0.01, 1e-12);
  EXPECT_NEAR(lr_at(options, 1.0, 49, 1000, 100), 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(lr_at(options, 1.0, 100, 1000, 100), 1.0);
}

TEST(LrScheduleTest, OneCycleRisesThenAnneals) {
  const auto options = ScheduleOptions().kind(ScheduleKind::kOneCycle).pct_start(0.25);
  EXPECT_NEAR(lr_at(options, 1.0, 0, 1000, 100), 0.04, 1e-12);
  EXPECT_NEAR(lr_at(options, 1.0, 250, 1000, 100), 1.0, 1e-12);
  EXPECT_LT(lr_at(options, 1.0, 999, 1000, 100), 1e-4);
  EXPECT_GT(lr_at(options, 1.0, 100, 1000, 100), lr_at(options, 1.0, 50, 1000, 100));
}

TEST(LrScheduleTest, LinearOneCycleFromItsStartRatio) {
  // airbench's: from 0.2 up to the peak over 23% of training, then down to 0.07, in lines.
  const auto options = ScheduleOptions()
                           .kind(ScheduleKind::kOneCycle)
                           .linear_anneal(true)
                           .pct_start(0.25)
                           .start_ratio(0.2)
                           .final_ratio(0.07);
  EXPECT_NEAR(lr_at(options, 2.0, 0, 1000, 100), 0.4, 1e-12);
  EXPECT_NEAR(lr_at(options, 2.0, 125, 1000, 100), 2.0 * 0.6, 1e-12);
  EXPECT_NEAR(lr_at(options, 2.0, 250, 1000, 100), 2.0, 1e-12);
  EXPECT_NEAR(lr_at(options, 2.0, 625, 1000, 100), 2.0 * (1 + 0.07) / 2, 1e-12);
  EXPECT_NEAR(lr_at(options, 2.0, 1000, 1000, 100), 0.14, 1e-12);
  EXPECT_THROW(validate(ScheduleOptions().start_ratio(-1)), ConfigError);
}

TEST(LrScheduleTest, UnknownNameIsRejected) {
  EXPECT_EQ(parse_schedule("cosine", "train.schedule"), ScheduleKind::kCosine);
  EXPECT_THROW(parse_schedule("exponential", "train.schedule"), ConfigError);
}

}  // namespace
}  // namespace cnnlab
