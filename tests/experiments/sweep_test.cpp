#include "cnnlab/experiments/sweep.h"

#include <gtest/gtest.h>

#include "cnnlab/error.h"
#include "cnnlab/report/study_page.h"
#include "cnnlab/report/sweep_page.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

using testing::TempDir;
using testing::write_text;

// Two conv layers, a pooling layer (which also has a stride) and a dense layer.
constexpr const char* kBaseConfig = R"(name = "base"
[data]
dataset = "mnist"
[[model.layers]]
type = "conv2d"
filters = 4
kernel = 3
[[model.layers]]
type = "maxpool"
[[model.layers]]
type = "conv2d"
filters = 4
kernel = 3
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
units = 10
activation = "softmax"
)";

class SweepTest : public ::testing::Test {
 protected:
  void SetUp() override { write_text(dir_ / "base.toml", kBaseConfig); }
  SweepSpec parse(const std::string& body) {
    return parse_sweep("name = \"s\"\nconfig = \"base.toml\"\n" + body, "s.toml", dir_.path());
  }
  TempDir dir_;
};

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

TEST_F(SweepTest, GridVariesTheLastAxisFastestAndExpandsWildcardsToLayersWithTheOption) {
  const auto spec = parse(
      "set = [\"train.epochs=2\"]\n[grid]\n\"model.layers.Conv*.kernel\" = [3, 5]\n"
      "\"model.layers.*.stride\" = [1, 2, 3]\n");
  EXPECT_EQ(spec.config, dir_ / "base.toml");
  const auto points = expand_sweep(spec);
  ASSERT_EQ(points.size(), 6u);
  EXPECT_EQ(points[0].label, "kernel=3,stride=1");
  EXPECT_EQ(points[1].label, "kernel=3,stride=2");
  EXPECT_EQ(points[3].label, "kernel=5,stride=1");
  EXPECT_EQ(points[5].label, "kernel=5,stride=3");
  const auto& o = points[4].overrides;
  EXPECT_EQ(o.front(), "train.epochs=2");
  EXPECT_TRUE(contains(o, "model.layers.Conv1.kernel=5"));
  EXPECT_TRUE(contains(o, "model.layers.Conv2.kernel=5"));
  // '*' matches the conv layers and the pooling layer (both have a stride), not the dense one.
  EXPECT_TRUE(contains(o, "model.layers.Conv1.stride=2"));
  EXPECT_TRUE(contains(o, "model.layers.Conv2.stride=2"));
  EXPECT_TRUE(contains(o, "model.layers.Pool1.stride=2"));
  for (const auto& override_text : o) {
    EXPECT_EQ(override_text.find("Dense"), std::string::npos) << override_text;
    EXPECT_EQ(override_text.find("Flatten"), std::string::npos) << override_text;
  }
}

TEST_F(SweepTest, AxesKeepTheOrderOfTheFile) {
  // Alphabetically "model…" comes before "train…"; the file's order wins.
  const auto points = expand_sweep(
      parse("[grid]\n\"train.seed\" = [0, 1]\n\"model.layers.Conv1.kernel\" = [3, 5]\n"));
  ASSERT_EQ(points.size(), 4u);
  EXPECT_EQ(points[0].label, "seed=0,kernel=3");
  EXPECT_EQ(points[1].label, "seed=0,kernel=5");
  EXPECT_EQ(points[2].label, "seed=1,kernel=3");
}

TEST_F(SweepTest, ListedPointsAndRepeatedLastPartsUseWholeKeys) {
  const auto points = expand_sweep(parse(R"([[points]]
"model.layers.Conv1.kernel" = 5
"train.l2" = 0.001
[[points]]
"model.layers.Conv2.kernel" = 7
)"));
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].label, "model.layers.Conv1.kernel=5,l2=0.001");
  EXPECT_EQ(points[1].label, "model.layers.Conv2.kernel=7");
  EXPECT_TRUE(contains(points[0].overrides, "train.l2=0.001"));
}

TEST_F(SweepTest, SetEntriesMayUseWildcards) {
  const auto points = expand_sweep(
      parse("set = [\"model.layers.Conv*.padding=same\"]\n[grid]\n\"train.seed\" = [0]\n"));
  ASSERT_EQ(points.size(), 1u);
  EXPECT_TRUE(contains(points[0].overrides, "model.layers.Conv1.padding=same"));
  EXPECT_TRUE(contains(points[0].overrides, "model.layers.Conv2.padding=same"));
}

TEST_F(SweepTest, BadSweepsNameTheFileAndTheKey) {
  auto message = [&](const std::string& body) {
    try {
      expand_sweep(parse(body));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("").find("s.toml: expected either a [grid] table or [[points]]"),
            std::string::npos);
  EXPECT_NE(message("[grid]\n\"train.seed\" = 3\n")
                .find("grid.\"train.seed\": expected a non-empty list"),
            std::string::npos);
  EXPECT_NE(message("seeds = [1]\n[grid]\n\"train.seed\" = [0]\n").find("unknown key 'seeds'"),
            std::string::npos);
  const std::string no_layer = message("[grid]\n\"model.layers.Dense*.stride\" = [1]\n");
  EXPECT_NE(no_layer.find("no layer matching 'Dense*' has the option 'stride'"), std::string::npos)
      << no_layer;
}

TEST_F(SweepTest, PlanGivesEachPointItsFolderAndName) {
  const auto points = expand_sweep(parse("[grid]\n\"train.optimizer\" = [\"adam\", \"sgd\"]\n"));
  const auto plan = plan_sweep(points, dir_ / "base.toml", dir_ / "out");
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].run_dir, dir_ / "out" / "optimizer=adam");
  EXPECT_EQ(plan[1].run_dir, dir_ / "out" / "optimizer=sgd");
  EXPECT_EQ(plan[0].overrides.back(), "name=\"optimizer=adam\"");
  EXPECT_EQ(plan[0].config, dir_ / "base.toml");
  EXPECT_EQ(directory_name("a/b c\"d"), "a_b_c_d");
  EXPECT_EQ(directory_name(".."), "point");
}

TEST_F(SweepTest, ATypoInAKeyIsFoundBeforeAnyTraining) {
  try {
    expand_sweep(parse("[grid]\n\"train.optimiser\" = [\"adam\"]\n"));
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("sweep 's', point optimiser=adam:"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("optimiser"), std::string::npos);
  }
}

// Results with the given test accuracies (NaN: the run failed).
std::vector<SweepResult> results_of(const std::vector<SweepPoint>& points,
                                    const std::vector<double>& accuracies) {
  std::vector<SweepResult> results;
  for (std::size_t i = 0; i < points.size(); ++i) {
    SweepResult r{points[i], {}};
    r.outcome.run.label = points[i].label;
    if (std::isfinite(accuracies[i])) {
      r.outcome.status = RunStatus::kTrained;
      r.outcome.metrics = {{"test_accuracy", accuracies[i]},
                           {"params", 1000},
                           {"epochs", 2},
                           {"train_seconds", 10.0}};
    } else {
      r.outcome.status = RunStatus::kFailed;
      r.outcome.error = "kernel 9x9 is larger than its input 4x4";
    }
    results.push_back(r);
  }
  return results;
}

// A study part whose sweep crosses filter sizes 3 and 5 with strides 1 and 2, two seeds a
// point, with these accuracies (in point order: kernel, stride, seed), and an L2 variant.
StudyPartResults study_part(const std::vector<SweepPoint>& points,
                            const std::vector<double>& accuracies, double plain, double l2) {
  StudyPartResults part;
  part.part.title = "MNIST";
  part.model.status = RunStatus::kTrained;
  part.model.metrics = {{"test_accuracy", plain}};
  part.l2 = part.model;
  part.l2->metrics = {{"test_accuracy", l2}};
  for (const auto& r : results_of(points, accuracies)) part.sweep.push_back(r);
  return part;
}

TEST_F(SweepTest, ConclusionsAreTestedAgainstTheSpreadOverSeeds) {
  const auto points =
      expand_sweep(parse("[grid]\n\"model.layers.Conv*.kernel\" = [3, 5]\n"
                         "\"model.layers.Conv*.stride\" = [1, 2]\n\"train.seed\" = [0, 1]\n"));
  ASSERT_EQ(points.size(), 8u);
  // Seeds 0.002 apart at every point: a margin of 2·0.002/√2 = 0.0028.
  const std::string as_the_study = conclusions_html(
      {study_part(points, {0.980, 0.982, 0.950, 0.952, 0.981, 0.983, 0.950, 0.952}, 0.98, 0.97)});
  EXPECT_NE(as_the_study.find("a span of 0.0010; the noise margin is 0.0028"), std::string::npos)
      << as_the_study;
  EXPECT_NE(as_the_study.find("0.9810 at stride 1, 0.9510 at stride 2"), std::string::npos);
  EXPECT_EQ(as_the_study.find("Not reproduced"), std::string::npos) << as_the_study;
  EXPECT_EQ(as_the_study.find("Not decided"), std::string::npos) << as_the_study;

  // Filter size that matters, stride that helps, L2 that helps: none reproduced.
  const std::string against = conclusions_html(
      {study_part(points, {0.980, 0.982, 0.990, 0.992, 0.990, 0.992, 0.950, 0.952}, 0.97, 0.98)});
  for (const char* claim :
       {"Filter size makes little difference.", "Accuracy falls as stride rises.",
        "MNIST: L2 does not raise accuracy."}) {
    const auto at = against.find(claim);
    ASSERT_NE(at, std::string::npos) << claim;
    const auto verdict = against.find("</li>", at);
    EXPECT_NE(against.substr(at, verdict - at).find(">Not reproduced.<"), std::string::npos)
        << claim << "\n"
        << against;
  }

  // One seed a point: no margin, so the sweep's conclusions are not decided.
  const auto one_seed = expand_sweep(parse(
      "[grid]\n\"model.layers.Conv*.kernel\" = [3, 5]\n\"model.layers.Conv*.stride\" = [1, 2]\n"));
  const std::string undecided =
      conclusions_html({study_part(one_seed, {0.98, 0.95, 0.981, 0.95}, 0.98, 0.97)});
  EXPECT_NE(undecided.find("there is no noise margin"), std::string::npos) << undecided;
  EXPECT_NE(undecided.find(">Not decided.<"), std::string::npos) << undecided;
  EXPECT_NE(undecided.find(">Reproduced (by sign alone).<"), std::string::npos) << undecided;
}

TEST_F(SweepTest, SeedsAreAveragedAndTheFindingsFollowEachAxis) {
  const auto points = expand_sweep(
      parse("[grid]\n\"model.layers.Conv*.stride\" = [1, 2, 3]\n\"train.seed\" = [0, 1]\n"));
  ASSERT_EQ(points.size(), 6u);
  const auto results = results_of(points, {0.99, 0.97, 0.96, 0.96, 0.90, NAN});
  const auto groups = group_sweep(results);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].label, "stride=1");
  EXPECT_NEAR(groups[0].mean_accuracy, 0.98, 1e-12);
  EXPECT_NEAR(groups[0].stdev_accuracy, std::sqrt(2 * 0.01 * 0.01), 1e-12);
  EXPECT_EQ(groups[1].finished, 2);
  EXPECT_NEAR(groups[1].stdev_accuracy, 0.0, 1e-12);
  EXPECT_EQ(groups[2].finished, 1);
  EXPECT_NEAR(groups[2].mean_accuracy, 0.90, 1e-12);
  EXPECT_NEAR(groups[2].seconds_per_epoch, 5.0, 1e-12);
  ASSERT_EQ(groups[2].errors.size(), 1u);

  const std::string text = sweep_findings(groups);
  EXPECT_NE(text.find("As stride went from 1 to 3, test accuracy fell from 0.9800 to 0.9000"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("the best is stride=1 (0.9800) and the worst stride=3 (0.9000)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("1 point could not be trained"), std::string::npos) << text;

  const Chart chart = sweep_chart(groups, "sweep");
  ASSERT_EQ(chart.spec["data"]["values"].size(), 3u);
  EXPECT_NEAR(chart.spec["data"]["values"][0]["high"].get<double>(), 0.98 + std::sqrt(2e-4), 1e-9);
  EXPECT_EQ(chart.spec["layer"].size(), 2u);  // mean line and ± bars

  const std::string csv = sweep_csv(results);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 7);
  EXPECT_NE(csv.find("label,model.layers.Conv*.stride,train.seed,status,test_accuracy"),
            std::string::npos);
  EXPECT_NE(csv.find("failed,,,,,"), std::string::npos) << csv;
}

TEST_F(SweepTest, FindingsHoldTheOtherAxesAtTheirFirstValues) {
  const auto points = expand_sweep(parse(
      "[grid]\n\"model.layers.Conv*.kernel\" = [3, 9]\n\"model.layers.Conv*.stride\" = [1, 3]\n"));
  const auto groups = group_sweep(results_of(points, {0.991, 0.962, 0.9905, 0.95}));
  const std::string text = sweep_findings(groups);
  EXPECT_NE(
      text.find("As kernel went from 3 to 9 (stride=1), test accuracy went from 0.9910 to 0.9905"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("As stride went from 1 to 3 (kernel=3), test accuracy fell from 0.9910 to 0.9620"),
      std::string::npos)
      << text;
}

}  // namespace
}  // namespace cnnlab
