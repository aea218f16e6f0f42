#include <gtest/gtest.h>

#include <cmath>

#include "cnnlab/error.h"
#include "cnnlab/run/history_files.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

using testing::TempDir;

TEST(HistoryTest, WrittenRecordsReadBack) {
  TempDir dir;
  {
    HistoryWriter writer;
    writer.open(dir.path(), nullptr);
    writer.append(StepRecord{1, 1, 0.5, 0.25, 0.001});
    writer.append(StepRecord{1, 2, 0.4, 0.5, 0.002});
    EpochRecord epoch;
    epoch.epoch = 1;
    epoch.loss = 0.45;
    epoch.val_accuracy = NAN;
    epoch.steps = 2;
    writer.append(epoch);
  }
  const History history = read_history(dir.path());
  ASSERT_EQ(history.steps.size(), 2u);
  EXPECT_EQ(history.steps[1].global_step, 2);
  EXPECT_DOUBLE_EQ(history.steps[1].lr, 0.002);
  ASSERT_EQ(history.epochs.size(), 1u);
  EXPECT_DOUBLE_EQ(history.epochs[0].loss, 0.45);
  EXPECT_TRUE(std::isnan(history.epochs[0].val_accuracy));
}

TEST(HistoryTest, LineCutShortByACrashIsIgnored) {
  TempDir dir;
  testing::write_text(dir / "steps.csv", "epoch,step,loss,accuracy,lr\n1,1,0.5,0.25,0.001\n1,2,0.");
  EXPECT_EQ(read_history(dir.path()).steps.size(), 1u);
}

TEST(HistoryTest, MalformedLineNamesFileAndLine) {
  TempDir dir;
  testing::write_text(dir / "steps.csv", "epoch,step,loss,accuracy,lr\n1,1,abc,0.25,0.001\n");
  try {
    read_history(dir.path());
    FAIL();
  } catch (const DataFormatError& e) {
    EXPECT_NE(std::string(e.what()).find("steps.csv: line 2: 'abc' is not a number"),
              std::string::npos);
  }
}

TEST(HistoryTest, ReopeningWithKeptRecordsDropsLaterLines) {
  TempDir dir;
  History keep;
  keep.steps.push_back(StepRecord{1, 1, 0.5, 0.25, 0.001});
  testing::write_text(dir / "steps.csv",
                      "epoch,step,loss,accuracy,lr\n1,1,0.5,0.25,0.001\n1,2,0.4,0.5,0.002\n");
  HistoryWriter writer;
  writer.open(dir.path(), &keep);
  writer.append(StepRecord{1, 2, 0.3, 0.75, 0.003});
  const History history = read_history(dir.path());
  ASSERT_EQ(history.steps.size(), 2u);
  EXPECT_DOUBLE_EQ(history.steps[1].loss, 0.3);
}

}  // namespace
}  // namespace cnnlab
