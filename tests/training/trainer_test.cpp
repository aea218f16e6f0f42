#include "cnnlab/training/trainer.h"

#include <gtest/gtest.h>

#include "cnnlab/config/run_config.h"
#include "cnnlab/error.h"
#include "cnnlab/run/checkpoint.h"
#include "cnnlab/run/history_files.h"
#include "support/run_trainer.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

using testing::TempDir;

ModelSpec small_model() {
  ModelSpec spec = parse_config(R"(
[[model.layers]]
type = "conv2d"
filters = 4
kernel = 3
activation = "relu"
[[model.layers]]
type = "batchnorm"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dropout"
rate = 0.3
[[model.layers]]
type = "dense"
units = 3
l2 = 0.001
)",
                                "m.toml")
                       .model;
  spec.input = {1, 6, 6};
  spec.num_classes = 3;
  return spec;
}

// Three classes told apart by which third of the image is bright.
Dataset synthetic(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  auto labels = torch::randint(0, 3, {n}, torch::kInt64);
  auto images = torch::randint(0, 60, {n, 1, 6, 6}, torch::kInt64);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = labels[i].item<int64_t>();
    images[i].narrow(2, 2 * c, 2).add_(150);
  }
  return Dataset{images.to(torch::kUInt8), labels, {"left", "middle", "right"}};
}

TrainerOptions options() {
  return TrainerOptions()
      .epochs(3)
      .batch_size(16)
      .seed(5)
      .schedule(ScheduleOptions().kind(ScheduleKind::kCosine))
      .optimizer(OptimizerOptions().lr(0.01));
}

Network fresh_network(uint64_t seed, const ModelSpec& model = small_model()) {
  torch::manual_seed(seed);
  return Network(model);
}

// The small model with the ingredients of the CIFAR-10 speed-run recipe: a whitening first layer
// whose bias trains for one epoch, a Dirac-initialised convolution, batch norm without scale
// at 8 times the rate, a rescaling before the head.
ModelSpec recipe_model() {
  ModelSpec spec = parse_config(R"(
[[model.layers]]
type = "conv2d"
filters = 8
kernel = 2
activation = "gelu"
kernel_initializer = "whitening"
kernel_trainable = false
trainable_epochs = 1
[[model.layers]]
type = "conv2d"
filters = 8
padding = "same"
use_bias = false
kernel_initializer = "dirac"
[[model.layers]]
type = "batchnorm"
momentum = 0.6
epsilon = 1e-12
scale = false
activation = "gelu"
lr_multiplier = 8.0
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "rescaling"
scale = 0.25
[[model.layers]]
type = "dense"
units = 3
use_bias = false
kernel_initializer = "pytorch"
)",
                                "recipe.toml")
                       .model;
  spec.input = {1, 6, 6};
  spec.num_classes = 3;
  return spec;
}

TrainerOptions recipe_options() {
  return options()
      .optimizer(OptimizerOptions()
                     .kind(OptimizerKind::kSgd)
                     .lr(0.2)
                     .momentum(0.85)
                     .nesterov(true)
                     .weight_decay(0.002)
                     .decoupled_weight_decay(true))
      .schedule(ScheduleOptions()
                    .kind(ScheduleKind::kOneCycle)
                    .linear_anneal(true)
                    .pct_start(0.23)
                    .start_ratio(0.2)
                    .final_ratio(0.07))
      .label_smoothing(0.2)
      .lookahead(LookaheadOptions().every(3))
      .augment(
          AugmentOptions().horizontal_flip(true).alternating_flip(true).crop_padding(1).fill_mode(
              FillMode::kReflect));
}

TEST(TrainerTest, LearnsASimpleTask) {
  TempDir dir;
  testing::RunTrainer trainer(fresh_network(1), options(), dir.path());
  const Dataset train = synthetic(300, 1), val = synthetic(90, 2);
  ASSERT_EQ(trainer.fit(train, val, {}), FitStatus::kCompleted);
  ASSERT_EQ(trainer.history().epochs.size(), 3u);
  EXPECT_GT(trainer.history().epochs.back().val_accuracy, 0.9);
  EXPECT_EQ(trainer.history().steps.size(), 3u * 19u);
  EXPECT_TRUE(std::filesystem::exists(dir / "checkpoints" / "last.pt"));
  EXPECT_TRUE(std::filesystem::exists(dir / "checkpoints" / "best.pt"));
  const History on_disk = read_history(dir.path());
  EXPECT_EQ(on_disk.steps.size(), trainer.history().steps.size());
  ASSERT_EQ(on_disk.epochs.size(), 3u);
  EXPECT_NEAR(on_disk.epochs[2].val_accuracy, trainer.history().epochs[2].val_accuracy, 1e-6);
}

// Trains straight through, and again with two interruptions and resumptions (the second of a
// resumed run); both must end with identical weights, buffers and history.
void expect_resume_matches_straight_run(const TrainerOptions& opts,
                                        const ModelSpec& model = small_model()) {
  const Dataset train = synthetic(200, 3), val = synthetic(40, 4);
  TempDir straight_dir, resumed_dir;
  torch::set_num_threads(1);
  testing::RunTrainer straight(fresh_network(7, model), opts, straight_dir.path());
  ASSERT_EQ(straight.fit(train, val, {}), FitStatus::kCompleted);

  for (int64_t stop_at : {17, 33}) {  // in the middle of epoch 2, then of epoch 3 (13 steps each)
    int64_t steps = 0;
    TrainerCallbacks stop;
    stop.stop_requested = [&] { return ++steps == stop_at; };
    if (stop_at == 17) {
      testing::RunTrainer first(fresh_network(7, model), opts, resumed_dir.path());
      ASSERT_EQ(first.fit(train, val, {}, stop), FitStatus::kInterrupted);
    } else {
      // A second interruption, of a resumed run, must resume as well.
      testing::RunTrainer second(fresh_network(123, model), opts, resumed_dir.path());
      second.resume();
      steps = 17;
      ASSERT_EQ(second.fit(train, val, {}, stop), FitStatus::kInterrupted);
    }
  }
  testing::RunTrainer last(fresh_network(456, model), opts, resumed_dir.path());
  last.resume();
  ASSERT_EQ(last.fit(train, val, {}), FitStatus::kCompleted);

  const auto expected = straight.network()->named_parameters();
  const auto got = last.network()->named_parameters();
  for (const auto& item : expected) {
    EXPECT_TRUE(torch::equal(item.value(), got[item.key()])) << item.key();
  }
  const auto expected_buffers = straight.network()->named_buffers();
  const auto got_buffers = last.network()->named_buffers();
  for (const auto& item : expected_buffers) {
    EXPECT_TRUE(torch::equal(item.value(), got_buffers[item.key()])) << item.key();
  }
  const History a = read_history(straight_dir.path()), b = read_history(resumed_dir.path());
  ASSERT_EQ(a.steps.size(), b.steps.size());
  ASSERT_EQ(a.epochs.size(), b.epochs.size());
  EXPECT_DOUBLE_EQ(a.epochs.back().loss, b.epochs.back().loss);
  torch::set_num_threads(2);
}

TEST(TrainerTest, ResumeGivesTheSameWeightsAsAnUninterruptedRun) {
  expect_resume_matches_straight_run(options());
}

TEST(TrainerTest, ResumeWithAugmentationGivesTheSameWeights) {
  // Augmentation draws from a generator seeded by the step, so resuming replays it exactly.
  expect_resume_matches_straight_run(options().augment(
      AugmentOptions().rotation_range(20).zoom_range(0.1).horizontal_flip(true).cutout(2)));
}

// Lookahead's slow weights travel in the checkpoint (the stops fall between its updates), the
// whitening comes from the data once, the frozen bias stays frozen after a resume.
TEST(TrainerTest, ResumeWithTheSpeedRunRecipeGivesTheSameWeights) {
  expect_resume_matches_straight_run(recipe_options(), recipe_model());
}

TEST(TrainerTest, SpeedRunRecipeLearnsAndEndsOnTheSlowWeights) {
  const Dataset train = synthetic(200, 3), val = synthetic(40, 4);
  TempDir dir;
  // Mirroring would swap the left and right classes of this task.
  testing::RunTrainer trainer(fresh_network(7, recipe_model()),
                              recipe_options().augment(AugmentOptions()), dir.path());
  std::vector<torch::Tensor> whitening_bias;
  TrainerCallbacks callbacks;
  callbacks.on_epoch_end = [&](const EpochRecord&) {
    whitening_bias.push_back(trainer.network()->named_parameters()["Conv1.bias"].clone());
  };
  ASSERT_EQ(trainer.fit(train, val, {}, callbacks), FitStatus::kCompleted);
  EXPECT_GT(trainer.history().epochs.back().val_accuracy, 0.9)
      << "chance is 1/3; the small model with Adam reaches 0.9 in as many epochs";
  // The whitening kernel never trains; its bias trains in the first epoch only.
  const auto params = trainer.network()->named_parameters();
  const auto images = to_network_input(train.images.slice(0, 0, 200), {});
  EXPECT_TRUE(
      torch::allclose(params["Conv1.weight"], whitening_kernel(images, {2, 2}, 8), 1e-5, 1e-6));
  // (Lookahead's next update after the freeze still moves it once, toward its slow copy.)
  ASSERT_EQ(whitening_bias.size(), 3u);
  EXPECT_GT(whitening_bias[0].abs().sum().item<double>(), 0);
  EXPECT_TRUE(torch::equal(whitening_bias[1], whitening_bias[2]));
  // 39 steps, updates every 3: the last step ends on the slow weights, which the checkpoint
  // holds beside them.
  const auto slow = trainer.state().lookahead;
  const auto weights = averaged_weights(*trainer.network());
  ASSERT_EQ(slow.size(), weights.size());
  for (std::size_t i = 0; i < slow.size(); ++i) EXPECT_TRUE(torch::equal(slow[i], weights[i]));
}

TEST(TrainerTest, LookaheadMovesTheSlowWeightsTowardTheFastOnes) {
  Network net = fresh_network(1);
  Lookahead lookahead(LookaheadOptions().every(2).decay(0.5));
  lookahead.start(*net);
  const auto start = averaged_weights(*net)[0].detach().clone();
  {
    torch::NoGradGuard no_grad;
    averaged_weights(*net)[0].add_(1.0);
  }
  lookahead.after_step(*net, 1, 4);  // no update: the fast weights move on alone
  EXPECT_TRUE(torch::allclose(averaged_weights(*net)[0], start + 1.0));
  lookahead.after_step(*net, 2, 4);  // at t/T = ½ the slow weights keep 0.5·⅛ of themselves
  const double kept = 0.5 * 0.125;
  EXPECT_TRUE(torch::allclose(averaged_weights(*net)[0], start + (1 - kept), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(lookahead.slow()[0], start + (1 - kept), 1e-6, 1e-6));
  {
    torch::NoGradGuard no_grad;
    averaged_weights(*net)[0].add_(5.0);
  }
  lookahead.after_step(*net, 3, 3);  // the last step, between updates: back to the slow weights
  EXPECT_TRUE(torch::allclose(averaged_weights(*net)[0], start + (1 - kept), 1e-6, 1e-6));
  EXPECT_THROW(validate(LookaheadOptions().decay(1.5)), ConfigError);
}

TEST(TrainerTest, TestTimeAugmentationAveragesTheViewsLogits) {
  Network net = fresh_network(2);
  net->eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({4, 1, 6, 6});
  const auto f = [&](const torch::Tensor& v) { return net->forward(v); };
  EXPECT_TRUE(torch::allclose(tta_logits(net, x, TestTimeAugmentation::kNone), f(x)));
  const auto mirrored = [&](const torch::Tensor& v) { return 0.5 * (f(v) + f(v.flip({3}))); };
  EXPECT_TRUE(torch::allclose(tta_logits(net, x, TestTimeAugmentation::kFlip), mirrored(x)));
  // One pixel up-left and down-right, the border reflected (without repeating the edge).
  const auto up_left = torch::cat({x.slice(2, 1, 6), x.slice(2, 4, 5)}, 2);
  const auto shifted = torch::cat({up_left.slice(3, 1, 6), up_left.slice(3, 4, 5)}, 3);
  const auto down_right = torch::cat({x.slice(2, 1, 2), x.slice(2, 0, 5)}, 2);
  const auto shifted2 = torch::cat({down_right.slice(3, 1, 2), down_right.slice(3, 0, 5)}, 3);
  const auto expected = 0.5 * mirrored(x) + 0.25 * (mirrored(shifted) + mirrored(shifted2));
  EXPECT_TRUE(torch::allclose(tta_logits(net, x, TestTimeAugmentation::kFlipTranslate), expected,
                              1e-5, 1e-6));
  EXPECT_EQ(parse_tta("flip", "train.tta"), TestTimeAugmentation::kFlip);
}

// A run stopped before its first checkpoint (history lines may already be on disk) resumes from
// the beginning, as the same network built again: the same weights as a run never stopped.
TEST(TrainerTest, ResumeWithoutACheckpointStartsOver) {
  const Dataset train = synthetic(64, 5);
  TempDir straight_dir, resumed_dir;
  testing::RunTrainer straight(fresh_network(9), options().epochs(1), straight_dir.path());
  straight.fit(train, {}, {});
  testing::write_text(resumed_dir / "steps.csv", "epoch,step,loss,accuracy,lr\n1,1,0.5,0.5,0.01\n");
  testing::RunTrainer resumed(fresh_network(9), options().epochs(1), resumed_dir.path());
  EXPECT_FALSE(resumed.resume());
  EXPECT_TRUE(resumed.history().steps.empty());
  resumed.fit(train, {}, {});
  EXPECT_TRUE(
      torch::equal(straight.network()->parameters()[0], resumed.network()->parameters()[0]));
  EXPECT_EQ(read_history(resumed_dir.path()).steps.size(),
            read_history(straight_dir.path()).steps.size());
}

// Early stopping that can never see an improvement after epoch 1: validation accuracy would
// have to rise by more than 1.
EarlyStoppingOptions stop_after_epoch_1(int64_t patience) {
  return EarlyStoppingOptions()
      .enabled(true)
      .monitor("val_accuracy")
      .min_delta(1.0)
      .patience(patience)
      .restore_best_weights(true);
}

// The weights of a run of options().epochs(10) after `epochs` epochs, stopped there.
std::vector<torch::Tensor> weights_after(int64_t epochs, const Dataset& train, const Dataset& val) {
  TempDir dir;
  testing::RunTrainer trainer(fresh_network(1), options().epochs(10), dir.path());
  int64_t steps = 0;
  TrainerCallbacks stop;
  stop.stop_requested = [&] { return ++steps == epochs * 19; };  // 19 steps an epoch
  EXPECT_EQ(trainer.fit(train, val, {}, stop), FitStatus::kInterrupted);
  EXPECT_EQ(trainer.history().epochs.size(), static_cast<size_t>(epochs));
  return trainer.network()->parameters();
}

TEST(TrainerTest, EarlyStoppingEndsTheRunWithTheBestEpochsWeights) {
  TempDir dir;
  const Dataset train = synthetic(300, 1), val = synthetic(90, 2);
  testing::RunTrainer trainer(
      fresh_network(1), options().epochs(10).early_stopping(stop_after_epoch_1(1)), dir.path());
  int64_t early_stops = 0, restores = 0;
  TrainerCallbacks callbacks;
  callbacks.on_early_stop = [&](const EarlyStoppingVerdict& verdict) {
    EXPECT_EQ(verdict.stopped_epoch, 2);
    ++early_stops;
  };
  callbacks.on_best_weights_restored = [&](const EarlyStoppingVerdict& verdict) {
    EXPECT_EQ(verdict.best_epoch, 1);
    ++restores;
  };
  ASSERT_EQ(trainer.fit(train, val, {}, callbacks), FitStatus::kCompleted);
  EXPECT_EQ(early_stops, 1);
  EXPECT_EQ(restores, 1);
  EXPECT_EQ(trainer.history().epochs.size(), 2u);
  EXPECT_EQ(trainer.early_stopping().best_epoch, 1);
  EXPECT_EQ(read_history(dir.path()).epochs.size(), 2u);

  // The weights are epoch 1's (the same schedule, stopped there), not epoch 2's.
  const auto epoch_1 = weights_after(1, train, val), epoch_2 = weights_after(2, train, val);
  const auto weights = trainer.network()->parameters();
  for (size_t i = 0; i < weights.size(); ++i) {
    EXPECT_TRUE(torch::equal(weights[i], epoch_1[i])) << i;
  }
  EXPECT_FALSE(torch::equal(weights.back(), epoch_2.back()));
  // last.pt holds them too, so evaluate and report see the model the run ended with.
  Network saved = fresh_network(77);
  load_checkpoint(dir / "checkpoints" / "last.pt", *saved, nullptr);
  EXPECT_TRUE(torch::equal(saved->parameters().back(), epoch_1.back()));

  // Resuming a run that stopped early trains no further.
  testing::RunTrainer again(fresh_network(99),
                            options().epochs(10).early_stopping(stop_after_epoch_1(1)), dir.path());
  ASSERT_TRUE(again.resume());
  ASSERT_EQ(again.fit(train, val, {}), FitStatus::kCompleted);
  EXPECT_EQ(again.history().epochs.size(), 2u);
  EXPECT_TRUE(torch::equal(again.network()->parameters().back(), epoch_1.back()));
}

TEST(TrainerTest, ResumeWithEarlyStoppingRestoresTheSameBestWeights) {
  // Three epochs, never stopped; the final resume restores epoch 1 from best.pt.
  expect_resume_matches_straight_run(options().early_stopping(stop_after_epoch_1(5)));
}

TEST(TrainerTest, EarlyStoppingOnValidationFiguresNeedsAValidationSet) {
  TempDir dir;
  testing::RunTrainer trainer(
      fresh_network(1), options().early_stopping(EarlyStoppingOptions().enabled(true)), dir.path());
  try {
    trainer.fit(synthetic(64, 1), {}, {});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("early_stopping.monitor: 'val_loss' needs a validation"),
              std::string::npos)
        << e.what();
  }
}

// The plateau schedule watching a figure that can never improve after epoch 1.
ScheduleOptions plateau_after_epoch_1() {
  return ScheduleOptions()
      .kind(ScheduleKind::kPlateau)
      .plateau_monitor("val_accuracy")
      .plateau_min_delta(1.0)
      .plateau_patience(1)
      .gamma(0.5);
}

TEST(TrainerTest, PlateauScheduleLowersTheRateWhenValidationStalls) {
  TempDir dir;
  testing::RunTrainer trainer(fresh_network(1), options().schedule(plateau_after_epoch_1()),
                              dir.path());
  std::vector<std::pair<int64_t, double>> reductions;
  TrainerCallbacks callbacks;
  callbacks.on_learning_rate_reduced = [&](int64_t epoch, double lr) {
    reductions.emplace_back(epoch, lr);
  };
  ASSERT_EQ(trainer.fit(synthetic(300, 1), synthetic(90, 2), {}, callbacks), FitStatus::kCompleted);
  // After epoch 2, and again after epoch 3 (the rate a longer run would go on with).
  EXPECT_EQ(reductions, (std::vector<std::pair<int64_t, double>>{{2, 0.005}, {3, 0.0025}}));
  const auto& epochs = trainer.history().epochs;
  ASSERT_EQ(epochs.size(), 3u);
  // Epoch 1 sets the best; epoch 2 fails to beat it, so epoch 3 runs at half the rate.
  EXPECT_DOUBLE_EQ(epochs[0].lr, 0.01);
  EXPECT_DOUBLE_EQ(epochs[1].lr, 0.01);
  EXPECT_DOUBLE_EQ(epochs[2].lr, 0.005);
  EXPECT_DOUBLE_EQ(trainer.history().steps.back().lr, 0.005);
}

TEST(TrainerTest, ResumeWithThePlateauScheduleContinuesAtTheSameRate) {
  expect_resume_matches_straight_run(options().schedule(plateau_after_epoch_1()));
}

TEST(TrainerTest, AugmentationChangesWhatTheModelSees) {
  const Dataset train = synthetic(64, 8);
  Trainer plain(fresh_network(3), options().epochs(1));
  Trainer augmented(fresh_network(3),
                    options().epochs(1).augment(AugmentOptions().horizontal_flip(true)));
  plain.fit(train, {}, {});
  augmented.fit(train, {}, {});
  const auto a = plain.network()->named_parameters(), b = augmented.network()->named_parameters();
  EXPECT_FALSE(torch::equal(a["Output.weight"], b["Output.weight"]));
}

TEST(TrainerTest, DivergenceNamesEpochAndStep) {
  TempDir dir;
  auto opts = options();
  opts.optimizer(OptimizerOptions().kind(OptimizerKind::kSgd).lr(1e30).momentum(0));
  testing::RunTrainer trainer(fresh_network(1), opts, dir.path());
  try {
    trainer.fit(synthetic(200, 1), {}, {});
    FAIL() << "expected divergence";
  } catch (const DivergenceError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("training diverged at epoch 1, step "), std::string::npos);
    EXPECT_NE(message.find("learning rate"), std::string::npos);
  }
}

TEST(TrainerTest, DivergenceKeepsTheLastGoodCheckpoint) {
  TempDir dir;
  auto opts = options().checkpoint_every_steps(1);
  opts.optimizer(OptimizerOptions().kind(OptimizerKind::kSgd).lr(1e30).momentum(0));
  testing::RunTrainer trainer(fresh_network(1), opts, dir.path());
  EXPECT_THROW(trainer.fit(synthetic(200, 1), {}, {}), DivergenceError);
  Network saved = fresh_network(2);
  const TrainingState state = load_checkpoint(dir / "checkpoints" / "last.pt", *saved, nullptr);
  EXPECT_EQ(state.global_step, trainer.state().global_step);
  for (const auto& p : saved->parameters()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
}

// Bright images overflow a model with huge kernels (the loss is not finite); black ones give
// the finite loss log(3) (biases are zero). A learning rate of 1e-30 keeps the weights as they are.
TEST(TrainerTest, SkipOptionSkipsBatchesWhoseLossIsNotFinite) {
  ModelSpec spec = parse_config(R"(
[[model.layers]]
type = "conv2d"
filters = 2
activation = "relu"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
)",
                                "m.toml")
                       .model;
  spec.input = {1, 6, 6};
  spec.num_classes = 3;
  const auto huge_network = [&] {
    Network network(spec);
    torch::NoGradGuard no_grad;
    for (auto& p : network->parameters()) p.fill_(p.dim() > 1 ? 1e30 : 0.0);
    return network;
  };
  auto images = torch::zeros({6, 1, 6, 6}, torch::kUInt8);
  images.slice(0, 1, 6, 2).fill_(255);
  const Dataset train{images, torch::zeros({6}, torch::kInt64), {"a", "b", "c"}};
  auto opts = TrainerOptions().epochs(1).batch_size(1).optimizer(
      OptimizerOptions().kind(OptimizerKind::kSgd).lr(1e-30).momentum(0));

  Trainer stopping(huge_network(), opts);
  EXPECT_THROW(stopping.fit(train, {}, {}), DivergenceError);

  Trainer skipping(huge_network(), opts.nonfinite_loss(NonFiniteLoss::kSkip));
  int skipped = 0;
  TrainerCallbacks callbacks;
  callbacks.on_batch_skipped = [&](const StepEvent& event, double loss) {
    ++skipped;
    EXPECT_FALSE(std::isfinite(loss));
    EXPECT_EQ(event.epoch, 0);
  };
  EXPECT_EQ(skipping.fit(train, {}, {}, callbacks), FitStatus::kCompleted);
  EXPECT_EQ(skipped, 3);
  ASSERT_EQ(skipping.history().epochs.size(), 1u);
  EXPECT_NEAR(skipping.history().epochs[0].loss, std::log(3.0), 1e-6);
  EXPECT_EQ(skipping.state().global_step, 6);

  // When every batch of an epoch is skipped, the run stops all the same.
  const Dataset bright{torch::full({4, 1, 6, 6}, 255, torch::kUInt8),
                       torch::zeros({4}, torch::kInt64),
                       {"a", "b", "c"}};
  Trainer hopeless(huge_network(), opts.nonfinite_loss(NonFiniteLoss::kSkip));
  try {
    hopeless.fit(bright, {}, {});
    FAIL() << "expected divergence";
  } catch (const DivergenceError& e) {
    EXPECT_NE(std::string(e.what()).find("the loss of every batch was NaN or infinite, so all 4 "
                                         "were skipped"),
              std::string::npos)
        << e.what();
  }
}

TEST(TrainerTest, RejectsBadOptions) {
  EXPECT_THROW(Trainer(fresh_network(1), options().batch_size(0)), ConfigError);
  EXPECT_THROW(Trainer(fresh_network(1), options().label_smoothing(1.5)), ConfigError);
  try {
    Trainer(fresh_network(1), options().optimizer(OptimizerOptions().lr(-1)));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "train.lr: expected a value > 0, found -1");
  }
}

}  // namespace
}  // namespace cnnlab

namespace cnnlab {
namespace {

// Writes down every event, as one word each ("B3" for the batch end of global step 3).
class EventLog final : public Callback {
 public:
  std::vector<std::string> events;
  int64_t stop_after_step = 0;  // 0: never asks to stop

  void on_train_begin(Trainer&) override { events.push_back("train_begin"); }
  void on_epoch_begin(int64_t epoch, int64_t, int64_t) override {
    events.push_back("epoch_begin" + std::to_string(epoch + 1));
  }
  void on_batch_end(const StepEvent& event) override {
    events.push_back("B" + std::to_string(event.global_step));
    last_step_ = event.global_step;
  }
  void on_epoch_end(const EpochRecord& record, Trainer& trainer) override {
    events.push_back("epoch_end" + std::to_string(record.epoch));
    // The state already points at the next epoch, as a checkpoint saves it.
    EXPECT_EQ(trainer.state().epoch, record.epoch);
  }
  void on_checkpoint(CheckpointKind kind, Trainer&) override {
    events.push_back(kind == CheckpointKind::kBest ? "best" : "last");
  }
  void on_train_end(FitStatus status, Trainer&) override {
    events.push_back(status == FitStatus::kCompleted ? "train_end" : "train_end_interrupted");
  }
  bool stop_requested() override { return stop_after_step > 0 && last_step_ >= stop_after_step; }

 private:
  int64_t last_step_ = 0;
};

// Keras' order: train begin, per epoch its begin, the batch ends and its end; then the
// checkpoints due, the best one first (validation accuracy improves on the first epoch always);
// a requested stop saves the last checkpoint and ends the fit.
TEST(CallbackTest, EventsComeInKerasOrderWithTheCheckpointsDue) {
  const Dataset train = synthetic(40, 1);  // 3 steps of 16
  const Dataset validation = synthetic(20, 2);
  Trainer trainer(fresh_network(1), options().epochs(2).checkpoint_every_steps(2));
  EventLog log;
  ASSERT_EQ(trainer.fit(train, validation, {}, log), FitStatus::kCompleted);
  std::vector<std::string> expected = {"train_begin", "epoch_begin1", "B1",         "B2",
                                       "last",        "B3",           "epoch_end1", "best",
                                       "last",        "epoch_begin2"};
  expected.insert(expected.end(), {"B4", "last", "B5", "B6", "epoch_end2"});
  const auto& events = log.events;
  ASSERT_GE(events.size(), expected.size() + 2) << ::testing::PrintToString(events);
  EXPECT_EQ(std::vector<std::string>(events.begin(), events.begin() + expected.size()), expected);
  // Epoch 2 may or may not improve on epoch 1; the last checkpoint and the end come after it.
  EXPECT_EQ(events[events.size() - 2], "last");
  EXPECT_EQ(events.back(), "train_end");

  Trainer stopped(fresh_network(1), options().epochs(2));
  EventLog stopping;
  stopping.stop_after_step = 2;
  ASSERT_EQ(stopped.fit(train, validation, {}, stopping), FitStatus::kInterrupted);
  EXPECT_EQ(stopping.events, (std::vector<std::string>{"train_begin", "epoch_begin1", "B1", "B2",
                                                       "last", "train_end_interrupted"}));
}

// CallbackList calls each callback in the order given and asks every one whether to stop.
TEST(CallbackTest, ListCallsEachInTurn) {
  EventLog first, second;
  second.stop_after_step = 1;
  CallbackList both{&first, &second};
  StepEvent event;
  event.global_step = 1;
  both.on_batch_end(event);
  both.on_warning("ignored");
  EXPECT_EQ(first.events, std::vector<std::string>{"B1"});
  EXPECT_EQ(second.events, std::vector<std::string>{"B1"});
  EXPECT_TRUE(both.stop_requested());
  EXPECT_FALSE(CallbackList{&first}.stop_requested());
}

}  // namespace
}  // namespace cnnlab
