#include "cnnlab/training/lr_schedule.h"

#include <gtest/gtest.h>

#include "cnnlab/error.h"

namespace cnnlab {
namespace {

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

TEST(LrScheduleTest, UnknownNameIsRejected) {
  EXPECT_EQ(parse_schedule("cosine", "train.schedule"), ScheduleKind::kCosine);
  EXPECT_THROW(parse_schedule("exponential", "train.schedule"), ConfigError);
}

}  // namespace
}  // namespace cnnlab
