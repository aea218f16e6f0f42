#include "cnnlab/analysis/statistics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace cnnlab {
namespace {

torch::Tensor longs(const std::vector<int64_t>& v) { return torch::tensor(v, torch::kInt64); }

TEST(HistogramTest, CountsKnownValuesPerBin) {
  // Bins of width 0.5 over [-1, 1]: [-1, -0.5), [-0.5, 0), [0, 0.5), [0.5, 1].
  const auto values = torch::tensor({-1.0, -0.75, -0.5, 0.0, 0.1, 0.2, 0.5, 1.0, 3.0});
  const Histogram h = make_histogram(values, 4, -1.0, 1.0);
  EXPECT_EQ(h.counts, (std::vector<int64_t>{2, 1, 3, 2}));
  EXPECT_EQ(h.total(), 8);  // 3.0 lies outside
  EXPECT_DOUBLE_EQ(h.bin_width(), 0.5);
}

TEST(HistogramTest, OwnRangeCountsEverything) {
  const auto values = torch::arange(100, torch::kFloat32).view({10, 10});
  const Histogram h = make_histogram(values, 10);
  EXPECT_DOUBLE_EQ(h.lo, 0);
  EXPECT_DOUBLE_EQ(h.hi, 99);
  EXPECT_EQ(h.total(), 100);
  for (int64_t c : h.counts) EXPECT_EQ(c, 10);
}

TEST(HistogramTest, ConstantTensorFillsOneBin) {
  const Histogram h = make_histogram(torch::full({7}, 0.25), 5);
  EXPECT_EQ(h.total(), 7);
  EXPECT_EQ(h.counts[2], 7);
}

TEST(StatisticsTest, FractionWithinBound) {
  EXPECT_DOUBLE_EQ(fraction_within(torch::tensor({-0.02, -0.01, 0.0, 0.005, 0.5}), 0.01), 0.6);
}

TEST(StatisticsTest, ExponentialSmoothingIsDebiased) {
  EXPECT_EQ(exponential_smoothing({3, 1, 4}, 0.0), (std::vector<double>{3, 1, 4}));
  // A constant curve stays constant from its first point: no pull towards zero.
  for (const double v : exponential_smoothing({2, 2, 2, 2}, 0.9)) EXPECT_NEAR(v, 2.0, 1e-12);
  const auto s = exponential_smoothing({0, 10}, 0.5);
  EXPECT_DOUBLE_EQ(s[0], 0.0);
  EXPECT_DOUBLE_EQ(s[1], (0.5 * 0 * 0.5 + 0.5 * 10) / (1 - 0.25));  // 5 / 0.75
}

TEST(ConfusionTest, CountsTrueAgainstPredicted) {
  const auto labels = longs({0, 0, 1, 1, 1, 2, 2});
  const auto predicted = longs({0, 1, 1, 1, 2, 2, 0});
  const auto c = confusion_matrix(labels, predicted, 3);
  const auto expected = longs({1, 1, 0, 0, 2, 1, 1, 0, 1}).view({3, 3});
  EXPECT_TRUE(torch::equal(c, expected)) << c;
  const auto accuracy = per_class_accuracy(c);
  EXPECT_DOUBLE_EQ(accuracy[0], 0.5);
  EXPECT_DOUBLE_EQ(accuracy[1], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(accuracy[2], 0.5);
}

TEST(ConfusionTest, ClassWithoutImagesHasNoAccuracy) {
  const auto c = confusion_matrix(longs({0, 0}), longs({0, 1}), 3);
  EXPECT_TRUE(std::isnan(per_class_accuracy(c)[2]));
}

TEST(ConfusionTest, MostConfusedPairsLargestFirst) {
  const auto c = longs({9, 4, 1, 0, 8, 4, 2, 0, 7}).view({3, 3});
  const auto pairs = most_confused_pairs(c, 2);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].true_class, 0);  // 0 → 1 and 1 → 2 both 4: the lower true class first
  EXPECT_EQ(pairs[0].predicted_class, 1);
  EXPECT_EQ(pairs[1].true_class, 1);
  EXPECT_EQ(pairs[1].predicted_class, 2);
  EXPECT_EQ(pairs[1].count, 4);
  EXPECT_EQ(most_confused_pairs(c, 10).size(), 4u);  // zero cells are left out
}

TEST(GalleryTest, RightInOrderWrongByConfidence) {
  const auto probabilities = torch::tensor({{0.9, 0.1},    // right
                                            {0.3, 0.7},    // wrong, 0.7
                                            {0.2, 0.8},    // right
                                            {0.05, 0.95},  // wrong, 0.95
                                            {0.6, 0.4},    // wrong, 0.6
                                            {0.7, 0.3}});  // right
  const auto labels = longs({0, 0, 1, 0, 1, 0});
  const Gallery g = select_gallery(probabilities, labels, 2);
  ASSERT_EQ(g.right.size(), 2u);
  EXPECT_EQ(g.right[0].index, 0);
  EXPECT_EQ(g.right[1].index, 2);
  ASSERT_EQ(g.wrong.size(), 2u);
  EXPECT_EQ(g.wrong[0].index, 3);
  EXPECT_NEAR(g.wrong[0].probability, 0.95, 1e-6);
  EXPECT_EQ(g.wrong[0].true_class, 0);
  EXPECT_EQ(g.wrong[0].predicted_class, 1);
  EXPECT_EQ(g.wrong[1].index, 1);
}

}  // namespace
}  // namespace cnnlab
