#include "cnnlab/config/run_config.h"

#include <gtest/gtest.h>

#include "cnnlab/error.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

constexpr const char* kConfig = R"(name = "exp"
[data]
dataset = "cifar10"
validation_split = 0.2
normalize = true

[[model.layers]]
type = "conv2d"
filters = 16
kernel = 5
stride = [1, 2]
padding = "same"
activation = "relu"

[[model.layers]]
type = "maxpool"
size = 3

[[model.layers]]
type = "flatten"

[[model.layers]]
type = "dense"
name = "Hidden"
units = 64
activation = "relu"
l2 = 0.5

[[model.layers]]
type = "dense"
activation = "softmax"

[train]
epochs = 7
batch_size = 32
optimizer = "sgd"
lr = 0.05
momentum = 0.8
nesterov = true
schedule = "onecycle"
label_smoothing = 0.1
l2 = 0.001
seed = 42
threads = 2
)";

std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    parse_config(text, "bad.toml", overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(RunConfigTest, ReadsEveryPart) {
  const RunConfig c = parse_config(kConfig, "exp.toml");
  EXPECT_EQ(c.name, "exp");
  EXPECT_EQ(c.data.dataset(), "cifar10");
  EXPECT_DOUBLE_EQ(c.data.validation_split(), 0.2);
  EXPECT_TRUE(c.data.normalize());
  ASSERT_EQ(c.model.layers.size(), 5u);
  const LayerSpec& conv = c.model.layers[0];
  EXPECT_EQ(conv.name, "Conv1");
  EXPECT_EQ(conv.kernel, (std::array<int64_t, 2>{5, 5}));
  EXPECT_EQ(conv.stride, (std::array<int64_t, 2>{1, 2}));
  EXPECT_EQ(conv.padding, Padding::kSame);
  EXPECT_DOUBLE_EQ(conv.l2, 0.001);  // train.l2 applies to kernels without their own
  EXPECT_EQ(c.model.layers[1].stride, (std::array<int64_t, 2>{3, 3}));  // pools stride by size
  EXPECT_EQ(c.model.layers[3].name, "Hidden");
  EXPECT_DOUBLE_EQ(c.model.layers[3].l2, 0.5);
  EXPECT_EQ(c.model.layers[4].name, "Output");
  EXPECT_EQ(c.train.epochs(), 7);
  EXPECT_EQ(c.train.optimizer().kind(), OptimizerKind::kSgd);
  EXPECT_TRUE(c.train.optimizer().nesterov());
  EXPECT_EQ(c.train.schedule().kind(), ScheduleKind::kOneCycle);
  EXPECT_EQ(c.train.seed(), 42u);
  EXPECT_EQ(c.threads, 2);
}

// A config that extends another takes its options, replaces what it sets (a table key by key,
// model.layers whole), and passes the base's own extends on.
TEST(RunConfigTest, ExtendsTakesTheBaseAndReplacesWhatItSets) {
  testing::TempDir dir;
  testing::write_text(dir / "base.toml", kConfig);
  testing::write_text(dir / "middle.toml",
                      "extends = \"base.toml\"\nname = \"middle\"\n[train]\nepochs = 3\n");
  std::filesystem::create_directories(dir / "sub");
  testing::write_text(dir / "sub" / "short.toml",
                      "extends = \"../middle.toml\"\nname = \"short\"\n[train]\nlr = 0.2\n"
                      "[[model.layers]]\ntype = \"flatten\"\n[[model.layers]]\n"
                      "type = \"dense\"\nactivation = \"softmax\"\n");
  const RunConfig base = load_config_file(dir / "base.toml");
  const RunConfig config = load_config_file(dir / "sub" / "short.toml", {"train.seed=5"});
  EXPECT_EQ(config.name, "short");
  EXPECT_EQ(config.train.epochs(), 3);
  EXPECT_DOUBLE_EQ(config.train.optimizer().lr(), 0.2);
  EXPECT_EQ(config.train.batch_size(), base.train.batch_size());
  EXPECT_EQ(config.train.seed(), 5u);
  EXPECT_EQ(config.data.dataset(), "cifar10");
  EXPECT_EQ(config.model.layers.size(), 2u);
  EXPECT_EQ(base.model.layers.size(), 5u);
}

TEST(RunConfigTest, BadExtendsNamesTheFile) {
  testing::TempDir dir;
  auto error_of_file = [&](const std::string& name, const std::string& text) {
    testing::write_text(dir / name, text);
    try {
      load_config_file(dir / name);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  const std::string missing = error_of_file("missing.toml", "extends = \"nowhere.toml\"\n");
  EXPECT_NE(missing.find("missing.toml: extends 'nowhere.toml': no config file at"),
            std::string::npos)
      << missing;
  const std::string number = error_of_file("number.toml", "extends = 3\n");
  EXPECT_NE(number.find("number.toml: extends: expected the path"), std::string::npos) << number;
  testing::write_text(dir / "b.toml", "extends = \"a.toml\"\n");
  const std::string loop = error_of_file("a.toml", "extends = \"b.toml\"\n");
  EXPECT_NE(loop.find("a.toml: extends itself through"), std::string::npos) << loop;
  // A mistake in a base is named with the base, where the user will look for it.
  testing::write_text(dir / "typo.toml", std::string(kConfig) + "[output]\ndri = \"x\"\n");
  const std::string typo = error_of_file("over.toml", "extends = \"typo.toml\"\n");
  EXPECT_NE(typo.find("over.toml (extending "), std::string::npos) << typo;
  EXPECT_NE(typo.find("typo.toml)"), std::string::npos) << typo;
  EXPECT_NE(typo.find("dri"), std::string::npos) << typo;
}

TEST(RunConfigTest, ResolvedTomlReadsBackEqual) {
  RunConfig c = parse_config(kConfig, "exp.toml");
  c.class_names = {"a", "b"};
  c.model.num_classes = 2;
  c.model.input = {3, 32, 32};
  const RunConfig again = parse_config(to_toml(c), "resolved.toml");
  EXPECT_EQ(to_toml(again), to_toml(c));
  EXPECT_EQ(architecture_fingerprint(again.model), architecture_fingerprint(c.model));
  EXPECT_EQ(again.class_names, c.class_names);
  EXPECT_DOUBLE_EQ(again.model.layers[3].l2, 0.5);
  EXPECT_DOUBLE_EQ(again.model.layers[0].l2, 0.001);
}

TEST(RunConfigTest, ResolvedTomlWritesEachFloatInTheShortestFormThatReadsBackExactly) {
  RunConfig c = parse_config(kConfig, "exp.toml", {"train.gamma=0.30000000000000004"});
  c.class_names = {"0.050000000000000003", "b"};  // a string that looks like a float stays
  c.model.num_classes = 2;
  const std::string text = to_toml(c);
  EXPECT_NE(text.find("lr = 0.05\n"), std::string::npos) << text;
  EXPECT_NE(text.find("validation_split = 0.2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("epochs = 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("'0.050000000000000003'"), std::string::npos) << text;
  const RunConfig again = parse_config(text, "resolved.toml");
  EXPECT_EQ(again.train.optimizer().lr(), 0.05);
  EXPECT_EQ(again.train.schedule().gamma(), 0.1 + 0.2);
  EXPECT_EQ(again.train.optimizer().eps(), c.train.optimizer().eps());
  EXPECT_EQ(again.class_names, c.class_names);
}

TEST(RunConfigTest, ReadsAugmentWithKerasNames) {
  const RunConfig c = parse_config(std::string(kConfig) + R"(
[augment]
rotation_range = 15
width_shift_range = 0.1
height_shift_range = 2
shear_range = 0.2
zoom_range = 0.2
horizontal_flip = true
fill_mode = "constant"
cval = 0.5
cutout = 8
)",
                                   "exp.toml");
  const AugmentOptions& a = c.train.augment();
  EXPECT_DOUBLE_EQ(a.rotation_range(), 15);
  EXPECT_DOUBLE_EQ(a.height_shift_range(), 2);
  EXPECT_TRUE(a.horizontal_flip());
  EXPECT_FALSE(a.vertical_flip());
  EXPECT_EQ(a.fill_mode(), FillMode::kConstant);
  EXPECT_DOUBLE_EQ(a.cval(), 0.5);
  EXPECT_EQ(a.cutout(), 8);
  const RunConfig again = parse_config(to_toml(c), "resolved.toml");
  EXPECT_EQ(to_toml(again), to_toml(c));
  EXPECT_DOUBLE_EQ(again.train.augment().zoom_range(), 0.2);
}

TEST(RunConfigTest, BadAugmentValuesNameTheOption) {
  const std::string base = std::string(kConfig) + "[augment]\n";
  EXPECT_NE(error_of(base + "fill_mode = \"mirror\"\n").find("bad.toml:46: augment.fill_mode"),
            std::string::npos)
      << error_of(base + "fill_mode = \"mirror\"\n");
  EXPECT_NE(
      error_of(base + "zoom_range = 2\n").find("augment.zoom_range: expected a value in [0, 1)"),
      std::string::npos)
      << error_of(base + "zoom_range = 2\n");
  EXPECT_NE(error_of(base + "horizontal_flips = true\n").find("did you mean 'horizontal_flip'"),
            std::string::npos);
}

TEST(RunConfigTest, ReadsImageFolderOptions) {
  const RunConfig c = parse_config(R"(
[data]
dataset = "folder"
dir = "photos/train"
test_dir = "photos/test"
image_size = [48, 40]
color_mode = "grayscale"
bad_files = "fail"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
)",
                                   "f.toml");
  EXPECT_EQ(c.data.test_dir(), "photos/test");
  EXPECT_EQ(c.data.image_size(), (std::vector<int64_t>{48, 40}));
  EXPECT_EQ(c.data.color_mode(), "grayscale");
  EXPECT_EQ(c.data.bad_files(), "fail");
  const RunConfig again = parse_config(to_toml(c), "resolved.toml");
  EXPECT_EQ(to_toml(again), to_toml(c));
  EXPECT_NE(error_of("[data]\ncolor_mode = \"sepia\"\n[[model.layers]]\ntype = \"flatten\"\n")
                .find("data.color_mode: expected rgb or grayscale, found 'sepia'"),
            std::string::npos);
  EXPECT_NE(error_of("[data]\nimage_size = [0, 5]\n[[model.layers]]\ntype = \"flatten\"\n")
                .find("data.image_size"),
            std::string::npos);
}

TEST(RunConfigTest, UnknownOptionSuggestsTheKnownOne) {
  EXPECT_EQ(error_of("[train]\nepoch = 3\n[[model.layers]]\ntype = \"dense\"\n"),
            "bad.toml:2: train.epoch: unknown option for [train] (did you mean 'epochs'?)");
}

TEST(RunConfigTest, UnknownLayerTypeNamesTheLayer) {
  EXPECT_NE(error_of("[[model.layers]]\ntype = \"conv3d\"\n")
                .find("bad.toml:2: model.layers[0].type: unknown layer type 'conv3d'"),
            std::string::npos);
}

TEST(RunConfigTest, OptionOfAnotherLayerTypeIsRejected) {
  EXPECT_NE(error_of("[[model.layers]]\ntype = \"maxpool\"\nfilters = 3\n")
                .find("model.layers[0].filters: unknown option for a maxpool layer"),
            std::string::npos);
}

TEST(RunConfigTest, WrongTypeSaysWhatWasFound) {
  EXPECT_EQ(error_of("[train]\nepochs = \"five\"\n[[model.layers]]\ntype = \"dense\"\n"),
            "bad.toml:2: train.epochs: expected an integer, found string 'five'");
}

TEST(RunConfigTest, NegativeLearningRateIsRejected) {
  EXPECT_EQ(error_of("[train]\nlr = -0.1\n[[model.layers]]\ntype = \"dense\"\n"),
            "bad.toml:2: train.lr: expected a learning rate > 0, found -0.1");
}

TEST(RunConfigTest, NonFiniteLossPolicyIsReadAndChecked) {
  const auto config = parse_config(
      "[train]\nnonfinite_loss = \"skip\"\n[[model.layers]]\ntype = \"dense\"\n", "ok.toml");
  EXPECT_EQ(config.train.nonfinite_loss(), NonFiniteLoss::kSkip);
  EXPECT_NE(to_toml(config).find("nonfinite_loss = 'skip'"), std::string::npos);
  EXPECT_EQ(error_of("[train]\nnonfinite_loss = \"ignore\"\n[[model.layers]]\ntype = \"dense\"\n"),
            "bad.toml:2: train.nonfinite_loss: expected stop or skip, found 'ignore'");
}

TEST(RunConfigTest, ZeroEpochsIsRejected) {
  EXPECT_NE(error_of("[train]\nepochs = 0\n[[model.layers]]\ntype = \"dense\"\n")
                .find("train.epochs: expected a count > 0, found 0"),
            std::string::npos);
}

TEST(RunConfigTest, SyntaxErrorGivesLineAndColumn) {
  EXPECT_NE(error_of("[train\n").find("bad.toml:1:"), std::string::npos);
}

TEST(RunConfigTest, MissingModelIsExplained) {
  EXPECT_NE(error_of("name = \"x\"\n").find("missing [model]"), std::string::npos);
}

TEST(RunConfigTest, OverridesApplyBeforeValidation) {
  const RunConfig c = parse_config(kConfig, "exp.toml",
                                   {"train.epochs=2", "model.layers.Conv1.kernel=[3, 1]",
                                    "model.layers.Hidden.units=8", "data.dataset=mnist"});
  EXPECT_EQ(c.train.epochs(), 2);
  EXPECT_EQ(c.model.layers[0].kernel, (std::array<int64_t, 2>{3, 1}));
  EXPECT_EQ(c.model.layers[3].units, 8);
  EXPECT_EQ(c.data.dataset(), "mnist");
  // A value from --set has no line in the file to point at.
  EXPECT_EQ(error_of("[[model.layers]]\ntype = \"dense\"\n", {"train.lr=-1"}),
            "bad.toml: train.lr: expected a learning rate > 0, found -1");
}

TEST(RunConfigTest, EarlyStoppingTableTurnsItOn) {
  EXPECT_FALSE(parse_config(kConfig, "exp.toml").train.early_stopping().enabled());
  const RunConfig c = parse_config(std::string(kConfig) + R"(
[early_stopping]
monitor = "val_accuracy"
patience = 3
min_delta = 0.001
restore_best_weights = true
)",
                                   "exp.toml");
  const EarlyStoppingOptions& e = c.train.early_stopping();
  EXPECT_TRUE(e.enabled());
  EXPECT_EQ(e.monitor(), "val_accuracy");
  EXPECT_EQ(e.patience(), 3);
  EXPECT_DOUBLE_EQ(e.min_delta(), 0.001);
  EXPECT_TRUE(e.restore_best_weights());
  EXPECT_EQ(e.start_from_epoch(), 0);
  const RunConfig again = parse_config(to_toml(c), "resolved.toml");
  EXPECT_EQ(to_toml(again), to_toml(c));
  EXPECT_TRUE(again.train.early_stopping().enabled());
  // The resolved config of a run without early stopping keeps it off.
  EXPECT_FALSE(parse_config(to_toml(parse_config(kConfig, "exp.toml")), "resolved.toml")
                   .train.early_stopping()
                   .enabled());

  // --set turns it on as well, and off again.
  EXPECT_EQ(parse_config(kConfig, "exp.toml", {"early_stopping.patience=2"})
                .train.early_stopping()
                .patience(),
            2);
  EXPECT_TRUE(parse_config(kConfig, "exp.toml", {"early_stopping.patience=2"})
                  .train.early_stopping()
                  .enabled());
  EXPECT_FALSE(parse_config(to_toml(c), "resolved.toml", {"early_stopping.enabled=false"})
                   .train.early_stopping()
                   .enabled());
}

TEST(RunConfigTest, BadEarlyStoppingValuesNameTheOption) {
  const std::string base = std::string(kConfig) + "[early_stopping]\n";
  EXPECT_EQ(error_of(base + "monitor = \"val_acc\"\n"),
            "bad.toml: early_stopping.monitor: expected one of val_loss, val_accuracy, loss, "
            "accuracy, found 'val_acc'");
  EXPECT_NE(error_of(base + "patience = -1\n").find("early_stopping.patience: expected a count"),
            std::string::npos);
  EXPECT_NE(error_of(base + "patiense = 3\n").find("did you mean 'patience'"), std::string::npos)
      << error_of(base + "patiense = 3\n");
}

TEST(RunConfigTest, ReadsThePlateauSchedule) {
  const RunConfig c =
      parse_config(kConfig, "exp.toml",
                   {"train.schedule=plateau", "train.gamma=0.2", "train.plateau_patience=3",
                    "train.plateau_monitor=val_accuracy", "train.plateau_cooldown=1",
                    "train.plateau_min_delta=0.001", "train.min_lr=0.00001"});
  const ScheduleOptions& s = c.train.schedule();
  EXPECT_EQ(s.kind(), ScheduleKind::kPlateau);
  EXPECT_DOUBLE_EQ(s.gamma(), 0.2);
  EXPECT_EQ(s.plateau_patience(), 3);
  EXPECT_EQ(s.plateau_monitor(), "val_accuracy");
  EXPECT_EQ(s.plateau_cooldown(), 1);
  EXPECT_DOUBLE_EQ(s.plateau_min_delta(), 0.001);
  EXPECT_DOUBLE_EQ(s.min_lr(), 0.00001);
  EXPECT_EQ(to_toml(parse_config(to_toml(c), "resolved.toml")), to_toml(c));
  EXPECT_EQ(error_of(kConfig, {"train.schedule=plateau", "train.gamma=1"}),
            "bad.toml: train.gamma: the plateau schedule multiplies the learning rate by gamma: "
            "expected a value in (0, 1), found 1");
  EXPECT_NE(error_of(kConfig, {"train.plateau_monitor=acc"}).find("train.plateau_monitor"),
            std::string::npos);
}

TEST(RunConfigTest, MissingFileIsNamed) {
  try {
    load_config_file("no/such/config.toml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "no/such/config.toml: cannot read the config file");
  }
}

TEST(RunConfigTest, KerasSemanticsAreReadAndKeptInTheResolvedConfig) {
  const RunConfig c = parse_config(R"(
[data]
validation_data = "test"
[[model.layers]]
type = "flatten"
data_format = "channels_last"
[[model.layers]]
type = "dense"
[train]
eps_form = "keras"
)",
                                   "keras.toml");
  EXPECT_TRUE(c.data.validate_on_test());
  EXPECT_DOUBLE_EQ(c.data.validation_split(), 0.0);
  EXPECT_EQ(c.model.layers[0].data_format, DataFormat::kChannelsLast);
  EXPECT_TRUE(c.train.optimizer().keras_epsilon());
  const RunConfig again = parse_config(to_toml(c), "resolved.toml");
  EXPECT_EQ(to_toml(again), to_toml(c));
  EXPECT_TRUE(again.data.validate_on_test());
  EXPECT_EQ(again.model.layers[0].data_format, DataFormat::kChannelsLast);
  EXPECT_TRUE(again.train.optimizer().keras_epsilon());
  // Older runs' configs say nothing: PyTorch's flatten and epsilon, the split.
  const RunConfig plain = parse_config(
      "[[model.layers]]\ntype = \"flatten\"\n"
      "[[model.layers]]\ntype = \"dense\"\n",
      "plain.toml");
  EXPECT_EQ(plain.model.layers[0].data_format, DataFormat::kChannelsFirst);
  EXPECT_FALSE(plain.train.optimizer().keras_epsilon());
  EXPECT_FALSE(plain.data.validate_on_test());
}

TEST(RunConfigTest, BadKerasSemanticsValuesNameTheOption) {
  const std::string dense = "[[model.layers]]\ntype = \"dense\"\n";
  EXPECT_NE(error_of("[train]\neps_form = \"tf\"\n" + dense).find("bad.toml:2: train.eps_form"),
            std::string::npos);
  EXPECT_NE(error_of("[train]\noptimizer = \"sgd\"\neps_form = \"keras\"\n" + dense)
                .find("train.eps_form"),
            std::string::npos);
  EXPECT_NE(error_of("[data]\nvalidation_data = \"val\"\n" + dense)
                .find("bad.toml:2: data.validation_data: expected split"),
            std::string::npos);
  EXPECT_NE(error_of("[data]\nvalidation_data = \"test\"\nvalidation_split = 0.2\n" + dense)
                .find("bad.toml:3: data.validation_split: validation_data = \"test\""),
            std::string::npos);
  EXPECT_NE(error_of("[[model.layers]]\ntype = \"flatten\"\ndata_format = \"nhwc\"\n" + dense)
                .find("data_format: unknown data format 'nhwc': expected one of channels_first, "
                      "channels_last"),
            std::string::npos);
}

TEST(RunConfigTest, TrainingRecipeOptionsAreReadAndKeptInTheResolvedConfig) {
  const RunConfig c = parse_config(R"(
[augment]
horizontal_flip = true
alternating_flip = true
[[model.layers]]
type = "conv2d"
filters = 12
kernel = 2
kernel_initializer = "whitening"
kernel_trainable = false
trainable_epochs = 3
[[model.layers]]
type = "conv2d"
filters = 16
kernel_initializer = "dirac"
lr_multiplier = 0.5
[[model.layers]]
type = "batchnorm"
momentum = 0.6
epsilon = 1e-12
scale = false
activation = "gelu"
lr_multiplier = 64.0
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "rescaling"
scale = 0.125
offset = 1.0
[[model.layers]]
type = "dense"
kernel_initializer = "pytorch"
trainable = false
[train]
optimizer = "sgd"
weight_decay = 0.002
weight_decay_form = "decoupled"
schedule = "onecycle"
anneal = "linear"
start_ratio = 0.2
lookahead_every = 5
lookahead_decay = 0.75
tta = "flip_translate"
)",
                                   "recipe.toml");
  const auto check = [](const RunConfig& r) {
    const auto& l = r.model.layers;
    EXPECT_EQ(l[0].kernel_initializer, Initializer::kWhitening);
    EXPECT_FALSE(l[0].kernel_trainable);
    EXPECT_EQ(l[0].trainable_epochs, 3);
    EXPECT_EQ(l[1].kernel_initializer, Initializer::kDirac);
    EXPECT_DOUBLE_EQ(l[1].lr_multiplier, 0.5);
    EXPECT_DOUBLE_EQ(l[2].momentum, 0.6);
    EXPECT_DOUBLE_EQ(l[2].epsilon, 1e-12);
    EXPECT_FALSE(l[2].scale);
    EXPECT_TRUE(l[2].center);
    EXPECT_EQ(l[2].activation, Activation::kGelu);
    EXPECT_DOUBLE_EQ(l[2].lr_multiplier, 64.0);
    EXPECT_DOUBLE_EQ(l[4].scale_factor, 0.125);
    EXPECT_DOUBLE_EQ(l[4].offset, 1.0);
    EXPECT_EQ(l[5].kernel_initializer, Initializer::kPyTorch);
    EXPECT_FALSE(l[5].trainable);
    EXPECT_TRUE(r.train.augment().alternating_flip());
    EXPECT_TRUE(r.train.optimizer().decoupled_weight_decay());
    EXPECT_TRUE(r.train.schedule().linear_anneal());
    EXPECT_DOUBLE_EQ(r.train.schedule().start_ratio(), 0.2);
    EXPECT_EQ(r.train.lookahead().every(), 5);
    EXPECT_DOUBLE_EQ(r.train.lookahead().decay(), 0.75);
    EXPECT_EQ(r.train.tta(), TestTimeAugmentation::kFlipTranslate);
  };
  check(c);
  const RunConfig again = parse_config(to_toml(c), "resolved.toml");
  EXPECT_EQ(to_toml(again), to_toml(c));
  check(again);
  // Without them: Keras' initialisation and batch norm, PyTorch's coupled decay, no averaging.
  const RunConfig plain = parse_config(
      "[[model.layers]]\ntype = \"batchnorm\"\n[[model.layers]]\ntype = \"flatten\"\n"
      "[[model.layers]]\ntype = \"dense\"\n",
      "plain.toml");
  EXPECT_DOUBLE_EQ(plain.model.layers[0].momentum, 0.99);
  EXPECT_DOUBLE_EQ(plain.model.layers[0].epsilon, 1e-3);
  EXPECT_EQ(plain.model.layers[2].kernel_initializer, Initializer::kGlorotUniform);
  EXPECT_FALSE(plain.train.optimizer().decoupled_weight_decay());
  EXPECT_EQ(plain.train.lookahead().every(), 0);
  EXPECT_EQ(plain.train.tta(), TestTimeAugmentation::kNone);
}

TEST(RunConfigTest, BadTrainingRecipeValuesNameTheOption) {
  const std::string dense = "[[model.layers]]\ntype = \"dense\"\n";
  const auto expect_error = [&](const std::string& text, const std::string& expected) {
    const std::string message = error_of(text);
    EXPECT_NE(message.find(expected), std::string::npos) << message;
  };
  // A whitening kernel's size depends on the input, known once the dataset is.
  RunConfig whitening = parse_config(
      "[[model.layers]]\ntype = \"conv2d\"\nfilters = 10\nkernel = 2\n"
      "kernel_initializer = \"whitening\"\n[[model.layers]]\ntype = \"flatten\"\n" +
          dense,
      "w.toml");
  whitening.model.input = {1, 5, 5};
  whitening.model.num_classes = 3;
  try {
    infer_shapes(whitening.model);
    ADD_FAILURE() << "a whitening kernel of 10 filters for 2x2 patches of 1 channel";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("expected filters = 4 or 8, found 10"), std::string::npos)
        << e.what();
  }
  expect_error(
      "[[model.layers]]\ntype = \"conv2d\"\nfilters = 4\nkernel_initializer = \"zca\"\n" + dense,
      "kernel_initializer: unknown initializer 'zca'");
  expect_error(
      "[[model.layers]]\ntype = \"flatten\"\n[[model.layers]]\ntype = \"dense\"\n"
      "kernel_initializer = \"dirac\"\n",
      "kernel_initializer 'dirac' is for conv2d layers");
  expect_error(
      "[[model.layers]]\ntype = \"batchnorm\"\nmomentum = 1.5\n[[model.layers]]\n"
      "type = \"flatten\"\n" +
          dense,
      "bad.toml:3: model.layers[0].momentum: expected momentum in [0, 1], found 1.5");
  expect_error(
      "[[model.layers]]\ntype = \"flatten\"\n[[model.layers]]\ntype = \"dense\"\n"
      "lr_multiplier = -1.0\n",
      "model.layers[1].lr_multiplier: expected lr_multiplier ≥ 0, found -1");
  expect_error(
      "[augment]\nalternating_flip = true\n" + dense,
      "augment.alternating_flip: alternates horizontal flips, and horizontal_flip is false");
  expect_error("[train]\nweight_decay_form = \"decoupled\"\n" + dense,
               "train.weight_decay_form: 'decoupled' is for sgd, and train.optimizer is adam");
  expect_error("[train]\nweight_decay_form = \"adamw\"\n" + dense,
               "expected one of coupled, decoupled");
  expect_error("[train]\nanneal = \"cosine\"\n" + dense, "expected one of cos, linear");
  expect_error("[train]\ntta = \"crops\"\n" + dense,
               "train.tta: unknown test-time augmentation 'crops'");
  expect_error("[train]\nlookahead_decay = 2.0\n" + dense, "train.lookahead_decay");
}

TEST(RunConfigTest, ShippedSpeedrunConfigIsAirbenchsNetwork) {
  RunConfig c =
      load_config_file(std::filesystem::path(CNNLAB_SOURCE_DIR) / "configs/cifar10-speedrun.toml");
  c.model.input = {3, 32, 32};
  const auto shapes = infer_shapes(c.model);
  int64_t params = 0;
  for (const auto& s : shapes) params += s.params;
  // The whitening layer, three blocks of 64, 256 and 256 filters, the 3x3 pool and the head.
  EXPECT_EQ(shapes[0].output, (std::vector<int64_t>{24, 31, 31}));
  EXPECT_EQ(shapes[shapes.size() - 4].output, (std::vector<int64_t>{256, 1, 1}));
  EXPECT_EQ(params, 1973944);
  EXPECT_EQ(c.train.batch_size(), 1024);
  EXPECT_EQ(c.train.tta(), TestTimeAugmentation::kFlipTranslate);

  // The ten-minute variant extends it: four epochs, flips only, the same network.
  const RunConfig short_run = load_config_file(std::filesystem::path(CNNLAB_SOURCE_DIR) /
                                               "configs/cifar10-speedrun-10min.toml");
  EXPECT_EQ(short_run.train.epochs(), 4);
  EXPECT_EQ(short_run.train.tta(), TestTimeAugmentation::kFlip);
  EXPECT_EQ(short_run.model.layers.size(), c.model.layers.size());
  EXPECT_EQ(short_run.train.batch_size(), 1024);
}

TEST(RunConfigTest, StudyMnistConfigIsThePlainKerasModel) {
  const RunConfig c =
      load_config_file(std::filesystem::path(CNNLAB_SOURCE_DIR) / "configs/study/mnist.toml");
  int64_t params = 0;
  for (const auto& shape : infer_shapes(c.model)) params += shape.params;
  EXPECT_EQ(params, 225034);
  for (const auto& layer : c.model.layers) {
    EXPECT_NE(layer.type, LayerType::kBatchNorm);
    EXPECT_NE(layer.type, LayerType::kDropout);
  }
  EXPECT_TRUE(c.train.optimizer().keras_epsilon());
  EXPECT_DOUBLE_EQ(c.train.optimizer().lr(), 0.001);
  EXPECT_DOUBLE_EQ(c.train.optimizer().eps(), 1e-7);
  EXPECT_EQ(c.train.precision(), Precision::kFloat32);
  EXPECT_EQ(c.train.eval_batch_size(), 32);
}

TEST(RunConfigTest, ShippedMnistConfigIsTheStudyModel) {
  const RunConfig c =
      load_config_file(std::filesystem::path(CNNLAB_SOURCE_DIR) / "configs/mnist.toml");
  std::vector<std::string> names;
  for (const auto& layer : c.model.layers) {
    if (layer.type == LayerType::kConv2d || layer.type == LayerType::kDense)
      names.push_back(layer.name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"Conv1", "Conv2", "Dense", "Output"}));
  EXPECT_EQ(c.train.batch_size(), 64);
  EXPECT_EQ(c.train.epochs(), 5);
  EXPECT_EQ(c.train.optimizer().kind(), OptimizerKind::kAdam);
  EXPECT_DOUBLE_EQ(c.data.validation_split(), 0.1);
}

TEST(RunConfigTest, ShippedCifar10ConfigIsTheStudyModel) {
  const RunConfig c =
      load_config_file(std::filesystem::path(CNNLAB_SOURCE_DIR) / "configs/cifar10.toml");
  std::vector<std::string> names;
  int pools = 0;
  for (const auto& layer : c.model.layers) {
    if (layer.type == LayerType::kMaxPool) ++pools;
    if (layer.type != LayerType::kConv2d && layer.type != LayerType::kDense) continue;
    names.push_back(layer.name);
    if (layer.type == LayerType::kConv2d) {
      EXPECT_EQ(layer.kernel, (std::array<int64_t, 2>{3, 3})) << layer.name;
      EXPECT_EQ(layer.stride, (std::array<int64_t, 2>{1, 1})) << layer.name;
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"Conv1", "Conv2", "Conv3", "Conv4", "Conv5", "Conv6",
                                             "Dense", "Output"}));
  EXPECT_EQ(pools, 3);
  EXPECT_EQ(c.data.dataset(), "cifar10");
  const AugmentOptions& a = c.train.augment();  // the study's ImageDataGenerator
  EXPECT_DOUBLE_EQ(a.rotation_range(), 15);
  EXPECT_DOUBLE_EQ(a.width_shift_range(), 0.1);
  EXPECT_DOUBLE_EQ(a.height_shift_range(), 0.1);
  EXPECT_DOUBLE_EQ(a.shear_range(), 0.2);
  EXPECT_DOUBLE_EQ(a.zoom_range(), 0.2);
  EXPECT_TRUE(a.horizontal_flip());
  EXPECT_EQ(a.fill_mode(), FillMode::kNearest);
}

}  // namespace
}  // namespace cnnlab
