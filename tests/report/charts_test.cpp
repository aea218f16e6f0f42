#include "cnnlab/report/charts.h"

#include <gtest/gtest.h>

#include <cmath>

namespace cnnlab {
namespace {

using nlohmann::json;

RunAnalysis run_named(const std::string& name, torch::Tensor kernel) {
  RunAnalysis run;
  run.name = name;
  run.class_names = {"cat", "dog"};
  run.weights.push_back({"Conv1.weight", kernel});
  for (int64_t e = 1; e <= 2; ++e) {
    EpochRecord record;
    record.epoch = e;
    record.loss = 1.0 / e;
    record.accuracy = 0.5 + 0.1 * e;
    record.val_loss = e == 1 ? NAN : 0.7;
    record.val_accuracy = e == 1 ? NAN : 0.65;
    run.history.epochs.push_back(record);
  }
  for (int64_t s = 1; s <= 5; ++s) {
    run.history.steps.push_back({1, s, static_cast<double>(s), 0.1 * static_cast<double>(s), 0.1});
  }
  run.confusion = torch::tensor({{3, 1}, {0, 4}}, torch::kInt64);
  run.per_class_accuracy = {0.75, 1.0};
  return run;
}

const json& values(const Chart& chart) { return chart.spec.at("data").at("values"); }

TEST(ChartsTest, WeightHistogramsOfComparedRunsShareBinsAndCountEveryWeight) {
  const std::vector<RunAnalysis> runs{run_named("plain", torch::tensor({-1.0f, 0.0f, 0.5f, 1.0f})),
                                      run_named("l2", torch::tensor({-0.1f, 0.0f, 0.1f, 3.0f}))};
  const Chart chart = weight_histogram_chart(runs, 4);
  EXPECT_EQ(chart.id, "weights");
  // Bins over the union of both ranges, [-1, 3] in 4 bins of width 1.
  std::map<std::string, std::map<double, int64_t>> counts;
  for (const auto& row : values(chart)) {
    EXPECT_DOUBLE_EQ(row["bin_end"].get<double>() - row["bin_start"].get<double>(), 1.0);
    counts[row["run"]][row["bin_start"].get<double>()] += row["count"].get<int64_t>();
  }
  EXPECT_EQ(counts["plain"], (std::map<double, int64_t>{{-1.0, 1}, {0.0, 2}, {1.0, 1}}));
  EXPECT_EQ(counts["l2"], (std::map<double, int64_t>{{-1.0, 1}, {0.0, 2}, {2.0, 1}}));
  EXPECT_EQ(chart.spec["spec"]["encoding"]["y"]["stack"], nullptr);  // overlaid, not stacked
}

TEST(ChartsTest, EpochCurvesLeaveOutMissingValidation) {
  const Chart chart = epoch_curves_chart({run_named("plain", torch::zeros({2}))});
  int validation = 0;
  for (const auto& row : values(chart)) {
    EXPECT_TRUE(row["value"].is_number()) << row;
    if (row["split"] == "validation") {
      ++validation;
      EXPECT_EQ(row["epoch"], 2);
    }
  }
  EXPECT_EQ(validation, 2);             // accuracy and loss of epoch 2
  EXPECT_EQ(values(chart).size(), 6u);  // + training accuracy and loss of both epochs
}

TEST(ChartsTest, TestAccuracyOverTimeCountsEpochEndsBackFromTheEnd) {
  RunAnalysis run = run_named("fast", torch::zeros({2}));
  EXPECT_TRUE(test_accuracy_over_time(run).empty());  // no metrics: nothing recorded
  EXPECT_TRUE(accuracy_over_time_chart({run}).id.empty());
  run.history.epochs[0].seconds = 10;
  run.history.epochs[1].seconds = 20;
  run.metrics = {{"test_accuracy", 0.7}, {"test_seconds", 5.0}, {"wall_seconds", 40.0}};
  // Validation on a split of the training set is no test figure: the final test only.
  auto points = test_accuracy_over_time(run);
  ASSERT_EQ(points.size(), 1u);
  EXPECT_DOUBLE_EQ(points[0].seconds, 40.0);
  EXPECT_DOUBLE_EQ(points[0].accuracy, 0.7);
  run.validates_on_test = true;
  points = test_accuracy_over_time(run);
  ASSERT_EQ(points.size(), 2u);  // epoch 1 has no validation figure
  EXPECT_EQ(points[0].epoch, 2);
  EXPECT_DOUBLE_EQ(points[0].seconds, 35.0);  // 40 s less the 5 s test
  EXPECT_DOUBLE_EQ(points[0].accuracy, 0.65);
  EXPECT_EQ(points[1].epoch, 0);
  RunAnalysis resumed = run_named("resumed", torch::zeros({2}));
  resumed.metrics = {{"test_accuracy", 0.9}};  // a resumed run records no wall time
  const Chart chart = accuracy_over_time_chart({run, resumed});
  EXPECT_EQ(chart.id, "accuracy_over_time");
  ASSERT_EQ(values(chart).size(), 2u);
  EXPECT_EQ(values(chart)[0]["run"], "fast");
  EXPECT_NEAR(values(chart)[1]["minutes"].get<double>(), 40.0 / 60, 1e-4);
  EXPECT_EQ(values(chart)[1]["when"], "final test");
}

TEST(ChartsTest, LearningCurveOffersEverySmoothing) {
  const Chart chart = learning_curve_chart({run_named("plain", torch::zeros({2}))});
  ASSERT_EQ(values(chart).size(), 5u);
  const auto& first = values(chart)[0];
  EXPECT_DOUBLE_EQ(first["loss_0"].get<double>(), 1.0);
  const auto& last = values(chart)[4];
  EXPECT_DOUBLE_EQ(last["loss_0"].get<double>(), 5.0);
  // Debiased moving average with weight 0.6 of 1..5, by hand.
  double average = 0, decay = 1;
  for (int i = 1; i <= 5; ++i) {
    average = 0.6 * average + 0.4 * i;
    decay *= 0.6;
  }
  EXPECT_NEAR(last["loss_60"].get<double>(), average / (1 - decay), 1e-4);
  EXPECT_TRUE(last.contains("accuracy_99"));
  EXPECT_EQ(chart.spec["params"][0]["name"], "smoothing");
}

TEST(ChartsTest, ConfusionChartHoldsEveryCellWithItsShareOfTheRow) {
  const Chart chart = confusion_chart(run_named("plain", torch::zeros({2})), "confusion_1");
  EXPECT_EQ(chart.id, "confusion_1");
  ASSERT_EQ(values(chart).size(), 4u);
  for (const auto& row : values(chart)) {
    if (row["true"] == "cat" && row["predicted"] == "dog") {
      EXPECT_EQ(row["count"], 1);
      EXPECT_DOUBLE_EQ(row["share"].get<double>(), 0.25);
    }
  }
}

TEST(ChartsTest, EpochWeightChartIsEmptyWithoutKeptHistograms) {
  const std::vector<RunAnalysis> runs{run_named("plain", torch::zeros({2}))};
  EXPECT_TRUE(epoch_weight_chart(runs).id.empty());
  auto kept = runs;
  kept[0].epoch_weight_histograms = json::array(
      {{{"epoch", 1},
        {"layers", {{{"name", "Conv1.weight"}, {"lo", 0.0}, {"hi", 2.0}, {"counts", {1, 3}}}}}}});
  const Chart chart = epoch_weight_chart(kept);
  EXPECT_EQ(chart.id, "weights_per_epoch");
  ASSERT_EQ(values(chart).size(), 2u);
  EXPECT_DOUBLE_EQ(values(chart)[1]["weight"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(values(chart)[1]["fraction"].get<double>(), 0.75);
}

}  // namespace
}  // namespace cnnlab
