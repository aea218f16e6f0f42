#include "cnnlab/training/checkpoint.h"

#include <gtest/gtest.h>

#include "cnnlab/config/run_config.h"
#include "cnnlab/error.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

using testing::TempDir;

ModelSpec model(int64_t filters) {
  return parse_config(R"(
[[model.layers]]
type = "conv2d"
filters = )" + std::to_string(filters) +
                          R"(
[[model.layers]]
type = "batchnorm"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
)",
                      "m.toml")
      .model;
}

TEST(CheckpointTest, SaveLoadGivesIdenticalOutputs) {
  TempDir dir;
  torch::manual_seed(0);
  Network a(model(4));
  // Move batch-norm statistics away from their initial values so buffers are checked too.
  a->train();
  a->forward(torch::rand({8, 1, 28, 28}) * 3);
  torch::optim::Adam adam(a->parameters());
  TrainingState state;
  state.epoch = 2;
  state.global_step = 17;
  state.best_val_accuracy = 0.75;
  save_checkpoint(dir / "c.pt", *a, &adam, state);

  torch::manual_seed(99);
  Network b(model(4));
  torch::optim::Adam adam_b(b->parameters());
  const TrainingState loaded = load_checkpoint(dir / "c.pt", *b, &adam_b);
  EXPECT_EQ(loaded.epoch, 2);
  EXPECT_EQ(loaded.global_step, 17);
  EXPECT_DOUBLE_EQ(loaded.best_val_accuracy, 0.75);
  a->eval();
  b->eval();
  const auto x = torch::rand({3, 1, 28, 28});
  EXPECT_TRUE(torch::equal(a->forward(x), b->forward(x)));
  EXPECT_FALSE(std::filesystem::exists(dir / "c.pt.tmp"));
}

TEST(CheckpointTest, RefusesAnotherModel) {
  TempDir dir;
  Network a(model(4));
  save_checkpoint(dir / "c.pt", *a, nullptr, TrainingState());
  Network b(model(5));
  try {
    load_checkpoint(dir / "c.pt", *b, nullptr);
    FAIL();
  } catch (const CheckpointError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("c.pt: checkpoint is from another model"), std::string::npos);
    EXPECT_NE(message.find("Conv1:conv2d:4x"), std::string::npos);
    EXPECT_NE(message.find("Conv1:conv2d:5x"), std::string::npos);
  }
}

TEST(CheckpointTest, CorruptFileIsACheckpointError) {
  TempDir dir;
  testing::write_text(dir / "c.pt", "not a checkpoint at all");
  Network a(model(4));
  try {
    load_checkpoint(dir / "c.pt", *a, nullptr);
    FAIL();
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("c.pt: not a readable cnnlab checkpoint"),
              std::string::npos);
  }
}

TEST(CheckpointTest, MissingFileIsACheckpointError) {
  TempDir dir;
  Network a(model(4));
  EXPECT_THROW(load_checkpoint(dir / "none.pt", *a, nullptr), CheckpointError);
}

TEST(CheckpointTest, FailedSaveKeepsThePreviousCheckpoint) {
  TempDir dir;
  Network a(model(4));
  TrainingState state;
  state.epoch = 1;
  save_checkpoint(dir / "c.pt", *a, nullptr, state);
  // A directory where the temporary file should go makes the write fail.
  std::filesystem::create_directory(dir / "c.pt.tmp");
  testing::write_text(dir / "c.pt.tmp" / "x", "x");
  state.epoch = 2;
  EXPECT_THROW(save_checkpoint(dir / "c.pt", *a, nullptr, state), IoError);
  EXPECT_EQ(load_checkpoint(dir / "c.pt", *a, nullptr).epoch, 1);
}

}  // namespace
}  // namespace cnnlab
