#include "cnnlab/training/early_stopping.h"

#include <gtest/gtest.h>

#include <cmath>

#include "cnnlab/error.h"
#include "support/epoch_records.h"

namespace cnnlab {
namespace {

using testing::epochs_with_val_loss;

EarlyStoppingOptions stopping() { return EarlyStoppingOptions().enabled(true); }

TEST(EarlyStoppingTest, StopsAfterPatienceEpochsWithoutImprovement) {
  const auto epochs = epochs_with_val_loss({1.0, 0.8, 0.85, 0.9, 0.7});
  const auto verdict = early_stopping_verdict(stopping().patience(2), epochs);
  EXPECT_EQ(verdict.best_epoch, 2);
  EXPECT_DOUBLE_EQ(verdict.best_value, 0.8);
  EXPECT_EQ(verdict.stopped_epoch, 4);  // epochs 3 and 4 did not improve; 5 is never reached
  EXPECT_EQ(verdict.wait, 2);

  // Keras' default patience, 0: the first epoch that does not improve ends the run.
  EXPECT_EQ(early_stopping_verdict(stopping(), epochs).stopped_epoch, 3);
  const auto patient = early_stopping_verdict(stopping().patience(3), epochs);
  EXPECT_EQ(patient.stopped_epoch, 0);
  EXPECT_EQ(patient.best_epoch, 5);
  EXPECT_EQ(patient.wait, 0);
}

TEST(EarlyStoppingTest, NothingHappensWhenDisabled) {
  const auto verdict =
      early_stopping_verdict(EarlyStoppingOptions(), epochs_with_val_loss({1.0, 2.0, 3.0}));
  EXPECT_EQ(verdict.best_epoch, 0);
  EXPECT_EQ(verdict.stopped_epoch, 0);
}

TEST(EarlyStoppingTest, AnImprovementMustExceedMinDelta) {
  const auto epochs = epochs_with_val_loss({1.0, 0.95, 0.93, 0.85});
  const auto verdict = early_stopping_verdict(stopping().patience(2).min_delta(0.1), epochs);
  EXPECT_EQ(verdict.best_epoch, 1);
  EXPECT_EQ(verdict.stopped_epoch, 3);
  // Measured from the best epoch, not the previous one: 0.85 is 0.15 below epoch 1's 1.0.
  EXPECT_EQ(early_stopping_verdict(stopping().patience(5).min_delta(0.1), epochs).best_epoch, 4);
  EXPECT_EQ(early_stopping_verdict(stopping().patience(5).min_delta(0.2), epochs).best_epoch, 1);
}

TEST(EarlyStoppingTest, AccuraciesMustRiseAndLossesFall) {
  const auto epochs = epochs_with_val_loss({1.0, 0.8, 0.85, 0.9});
  const auto val_accuracy = early_stopping_verdict(stopping().monitor("val_accuracy"), epochs);
  EXPECT_EQ(val_accuracy.best_epoch, 2);
  EXPECT_NEAR(val_accuracy.best_value, 0.2, 1e-12);
  EXPECT_EQ(val_accuracy.stopped_epoch, 3);
  // The training loss falls every epoch; the training accuracy never rises after the first.
  EXPECT_EQ(early_stopping_verdict(stopping().monitor("loss"), epochs).stopped_epoch, 0);
  const auto accuracy = early_stopping_verdict(stopping().monitor("accuracy"), epochs);
  EXPECT_EQ(accuracy.best_epoch, 1);
  EXPECT_EQ(accuracy.stopped_epoch, 2);
}

TEST(EarlyStoppingTest, ANonFiniteFigureNeverImproves) {
  const auto epochs = epochs_with_val_loss({NAN, 0.5, NAN, 0.6});
  const auto verdict = early_stopping_verdict(stopping().patience(2), epochs);
  EXPECT_EQ(verdict.best_epoch, 2);
  EXPECT_EQ(verdict.stopped_epoch, 4);
}

TEST(EarlyStoppingTest, StartFromEpochIgnoresTheFirstEpochs) {
  const auto epochs = epochs_with_val_loss({0.1, 0.5, 0.6, 0.4, 0.45});
  EXPECT_EQ(early_stopping_verdict(stopping(), epochs).stopped_epoch, 2);
  const auto verdict = early_stopping_verdict(stopping().start_from_epoch(1), epochs);
  EXPECT_EQ(verdict.best_epoch, 2);  // epoch 1's 0.1 is not counted
  EXPECT_EQ(verdict.stopped_epoch, 3);
  const auto later = early_stopping_verdict(stopping().start_from_epoch(3), epochs);
  EXPECT_EQ(later.best_epoch, 4);
  EXPECT_EQ(later.stopped_epoch, 5);
}

TEST(EarlyStoppingTest, MonitoredValuesComeFromTheEpoch) {
  EpochRecord record;
  record.loss = 1;
  record.accuracy = 2;
  record.val_loss = 3;
  record.val_accuracy = 4;
  EXPECT_EQ(monitored_value("loss", record), 1);
  EXPECT_EQ(monitored_value("accuracy", record), 2);
  EXPECT_EQ(monitored_value("val_loss", record), 3);
  EXPECT_EQ(monitored_value("val_accuracy", record), 4);
  EXPECT_TRUE(monitors_validation("val_accuracy"));
  EXPECT_FALSE(monitors_validation("loss"));
}

TEST(EarlyStoppingTest, BadOptionsNameTheOption) {
  try {
    validate(stopping().monitor("val_acc"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "early_stopping.monitor: expected one of val_loss, val_accuracy, loss, accuracy, "
                 "found 'val_acc'");
  }
  EXPECT_THROW(validate(stopping().patience(-1)), ConfigError);
  EXPECT_THROW(validate(stopping().min_delta(-0.1)), ConfigError);
  EXPECT_THROW(validate(stopping().start_from_epoch(-2)), ConfigError);
  EXPECT_NO_THROW(validate(stopping().patience(3).min_delta(0.01).monitor("accuracy")));
}

}  // namespace
}  // namespace cnnlab
