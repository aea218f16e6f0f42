#include "cnnlab/run/checkpoint.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <iterator>

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

// One optimizer step on a fixed batch.
void step(Network& net, torch::optim::Optimizer& optimizer, const torch::Tensor& x) {
  optimizer.zero_grad();
  net->forward(x).square().mean().backward();
  optimizer.step();
}

// Two steps, or one step, a save, a load into a fresh model and optimizer, and the second step:
// the weights must agree to the bit, so every part of the optimizer's state was kept.
void expect_optimizer_state_survives(
    const std::function<std::unique_ptr<torch::optim::Optimizer>(Network&)>& make) {
  TempDir dir;
  torch::manual_seed(0);
  const auto x = torch::rand({4, 1, 28, 28});
  Network straight(model(3));
  Network resumed(model(3));
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < straight->parameters().size(); ++i) {
    resumed->parameters()[i].copy_(straight->parameters()[i]);
  }
  {
    torch::AutoGradMode grad(true);
    auto a = make(straight);
    step(straight, *a, x);
    step(straight, *a, x);
    auto b = make(resumed);
    step(resumed, *b, x);
    save_checkpoint(dir / "c.pt", *resumed, b.get(), TrainingState());
    torch::manual_seed(7);
    resumed = Network(model(3));
    auto c = make(resumed);
    load_checkpoint(dir / "c.pt", *resumed, c.get());
    step(resumed, *c, x);
  }
  for (std::size_t i = 0; i < straight->parameters().size(); ++i) {
    EXPECT_TRUE(torch::equal(straight->parameters()[i], resumed->parameters()[i])) << i;
  }
}

TEST(CheckpointTest, SgdMomentumSurvivesSaveAndLoad) {
  expect_optimizer_state_survives([](Network& net) {
    return std::make_unique<torch::optim::SGD>(
        net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9).nesterov(true));
  });
}

TEST(CheckpointTest, AdamWAmsgradStateSurvivesSaveAndLoad) {
  expect_optimizer_state_survives([](Network& net) {
    return std::make_unique<torch::optim::AdamW>(net->parameters(),
                                                 torch::optim::AdamWOptions(0.01).amsgrad(true));
  });
}

TEST(CheckpointTest, AnotherOptimizersStateIsRefused) {
  TempDir dir;
  Network a(model(3));
  torch::optim::Adam adam(a->parameters());
  step(a, adam, torch::rand({2, 1, 28, 28}));
  save_checkpoint(dir / "c.pt", *a, &adam, TrainingState());
  torch::optim::SGD sgd(a->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  try {
    load_checkpoint(dir / "c.pt", *a, &sgd);
    FAIL();
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("it holds optimizer state of adam, the run uses sgd"),
              std::string::npos)
        << e.what();
  }
}

// A file cut short anywhere is refused, and the model keeps the weights it had.
TEST(CheckpointTest, TruncatedFileIsRefusedAndChangesNothing) {
  TempDir dir;
  torch::manual_seed(0);
  Network a(model(3));
  save_checkpoint(dir / "c.pt", *a, nullptr, TrainingState());
  std::ifstream in(dir / "c.pt", std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  torch::manual_seed(1);
  Network b(model(3));
  const auto before = b->parameters()[0].clone();
  for (std::size_t cut :
       {std::size_t{0}, std::size_t{7}, std::size_t{100}, bytes.size() / 2, bytes.size() - 1}) {
    testing::write_text(dir / "cut.pt", bytes.substr(0, cut));
    EXPECT_THROW(load_checkpoint(dir / "cut.pt", *b, nullptr), CheckpointError) << cut;
    EXPECT_TRUE(torch::equal(b->parameters()[0], before)) << cut;
  }
}

// LibTorch's archive format carries TorchScript source that its loader compiles: cnnlab no
// longer reads it, and says so.
TEST(CheckpointTest, LibTorchArchiveIsRefusedUnread) {
  TempDir dir;
  torch::serialize::OutputArchive archive;
  archive.write("meta", c10::IValue(std::string("{}")));
  archive.save_to((dir / "old.pt").string());
  Network a(model(3));
  try {
    load_checkpoint(dir / "old.pt", *a, nullptr);
    FAIL();
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("old.pt: not a readable cnnlab checkpoint: written in "
                                         "LibTorch's archive format by an earlier cnnlab"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace cnnlab
