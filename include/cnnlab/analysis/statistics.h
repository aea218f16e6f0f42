#pragma once

#include <torch/torch.h>

#include <vector>

namespace cnnlab {

/// Equal-width bins over [lo, hi]; the last bin includes hi.
struct Histogram {
  double lo = 0;
  double hi = 0;
  std::vector<int64_t> counts;

  double bin_width() const { return counts.empty() ? 0 : (hi - lo) / counts.size(); }
  int64_t total() const;
};

/// Histogram of every element of `values` in `bins` bins over [lo, hi]; values outside are not
/// counted. With lo == hi (a constant tensor) all values fall in one bin centred on it.
Histogram make_histogram(const torch::Tensor& values, int64_t bins, double lo, double hi);

/// As above, over the values' own range.
Histogram make_histogram(const torch::Tensor& values, int64_t bins);

/// Fraction of the elements of `values` with |v| ≤ bound.
double fraction_within(const torch::Tensor& values, double bound);

/// Exponential moving average of a curve, debiased as TensorBoard does so the first points are not
/// pulled towards zero: s_i = w·s_{i-1} + (1-w)·x_i, reported as s_i / (1 - w^(i+1)).
/// weight: in [0, 1); 0 returns the values unchanged.
std::vector<double> exponential_smoothing(const std::vector<double>& values, double weight);

/// Counts [num_classes, num_classes] int64: row = true class, column = predicted class.
/// labels, predicted: [N] int64 in [0, num_classes).
torch::Tensor confusion_matrix(const torch::Tensor& labels, const torch::Tensor& predicted,
                               int64_t num_classes);

/// Per class, the fraction of its images classified correctly (NaN for a class with none).
std::vector<double> per_class_accuracy(const torch::Tensor& confusion);

struct ConfusedPair {
  int64_t true_class = 0;
  int64_t predicted_class = 0;
  int64_t count = 0;
};

/// The `k` largest off-diagonal cells of a confusion matrix, largest first (ties: lower true
/// class, then lower predicted class, first); cells of 0 are left out.
std::vector<ConfusedPair> most_confused_pairs(const torch::Tensor& confusion, int64_t k);

struct GalleryItem {
  int64_t index = 0;  // into the evaluated set
  int64_t true_class = 0;
  int64_t predicted_class = 0;
  double probability = 0;  // of the predicted class
};

struct Gallery {
  std::vector<GalleryItem> right;  // in dataset order
  std::vector<GalleryItem> wrong;  // most confident mistakes first
};

/// Picks up to `per_kind` correctly and wrongly classified images. probabilities: [N, K] float,
/// labels: [N] int64.
Gallery select_gallery(const torch::Tensor& probabilities, const torch::Tensor& labels,
                       int64_t per_kind);

}  // namespace cnnlab
