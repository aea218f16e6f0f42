#include "cnnlab/analysis/statistics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace cnnlab {

int64_t Histogram::total() const {
  return std::accumulate(counts.begin(), counts.end(), int64_t{0});
}

Histogram make_histogram(const torch::Tensor& values, int64_t bins, double lo, double hi) {
  TORCH_CHECK(bins > 0, "histogram: bins must be > 0, got ", bins);
  TORCH_CHECK(lo <= hi, "histogram: empty range [", lo, ", ", hi, "]");
  Histogram h;
  if (lo == hi) {  // a constant: one bin around the value
    lo -= 0.5;
    hi += 0.5;
  }
  h.lo = lo;
  h.hi = hi;
  const auto v = values.detach().flatten().to(torch::kFloat64);
  const auto inside = v.masked_select(v.ge(lo) & v.le(hi));
  auto index = inside.sub(lo).div_((hi - lo) / static_cast<double>(bins)).floor_();
  index = index.clamp_(0, static_cast<double>(bins - 1)).to(torch::kInt64);
  // Counted where the values are (a GPU's weights on the GPU), read on the CPU.
  const auto counts = torch::bincount(index, {}, bins).to(torch::kCPU);
  h.counts.assign(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + bins);
  return h;
}

Histogram make_histogram(const torch::Tensor& values, int64_t bins) {
  if (values.numel() == 0) return make_histogram(values, bins, 0.0, 0.0);
  const auto v = values.detach().to(torch::kFloat64);
  return make_histogram(values, bins, v.min().item<double>(), v.max().item<double>());
}

double fraction_within(const torch::Tensor& values, double bound) {
  if (values.numel() == 0) return 0;
  return values.detach().abs().le(bound).to(torch::kFloat64).mean().item<double>();
}

std::vector<double> exponential_smoothing(const std::vector<double>& values, double weight) {
  TORCH_CHECK(weight >= 0 && weight < 1, "exponential_smoothing: weight must lie in [0, 1)");
  std::vector<double> smoothed;
  smoothed.reserve(values.size());
  double average = 0, decay = 1;
  for (const double v : values) {
    average = weight * average + (1 - weight) * v;
    decay *= weight;
    smoothed.push_back(average / (1 - decay));
  }
  return smoothed;
}

torch::Tensor confusion_matrix(const torch::Tensor& labels, const torch::Tensor& predicted,
                               int64_t num_classes) {
  TORCH_CHECK(labels.sizes() == predicted.sizes(), "confusion_matrix: ", labels.sizes(),
              " labels against ", predicted.sizes(), " predictions");
  const auto l = labels.to(torch::kInt64), p = predicted.to(torch::kInt64);
  TORCH_CHECK(l.numel() == 0 ||
                  (l.min().item<int64_t>() >= 0 && p.min().item<int64_t>() >= 0 &&
                   l.max().item<int64_t>() < num_classes && p.max().item<int64_t>() < num_classes),
              "confusion_matrix: class out of range [0, ", num_classes, ")");
  return torch::bincount(l * num_classes + p, {}, num_classes * num_classes)
      .view({num_classes, num_classes});
}

std::vector<double> per_class_accuracy(const torch::Tensor& confusion) {
  const auto c = confusion.to(torch::kFloat64);
  const auto totals = c.sum(1);
  std::vector<double> accuracy;
  for (int64_t k = 0; k < c.size(0); ++k) {
    const double total = totals[k].item<double>();
    accuracy.push_back(total > 0 ? c[k][k].item<double>() / total : NAN);
  }
  return accuracy;
}

std::vector<ConfusedPair> most_confused_pairs(const torch::Tensor& confusion, int64_t k) {
  const auto c = confusion.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t n = c.size(0);
  const auto* data = c.data_ptr<int64_t>();
  std::vector<ConfusedPair> pairs;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t p = 0; p < n; ++p) {
      if (t != p && data[t * n + p] > 0) pairs.push_back({t, p, data[t * n + p]});
    }
  }
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const ConfusedPair& a, const ConfusedPair& b) { return a.count > b.count; });
  if (static_cast<int64_t>(pairs.size()) > k) pairs.resize(static_cast<std::size_t>(k));
  return pairs;
}

Gallery select_gallery(const torch::Tensor& probabilities, const torch::Tensor& labels,
                       int64_t per_kind) {
  TORCH_CHECK(probabilities.dim() == 2 && probabilities.size(0) == labels.size(0),
              "select_gallery: ", probabilities.sizes(), " probabilities for ", labels.sizes(),
              " labels");
  const auto [best, predicted] = probabilities.detach().to(torch::kFloat64).max(1);
  const auto l = labels.to(torch::kInt64);
  Gallery gallery;
  std::vector<GalleryItem> wrong;
  for (int64_t i = 0; i < l.size(0); ++i) {
    GalleryItem item{i, l[i].item<int64_t>(), predicted[i].item<int64_t>(), best[i].item<double>()};
    if (item.true_class == item.predicted_class) {
      if (static_cast<int64_t>(gallery.right.size()) < per_kind) gallery.right.push_back(item);
    } else {
      wrong.push_back(item);
    }
  }
  std::stable_sort(wrong.begin(), wrong.end(), [](const GalleryItem& a, const GalleryItem& b) {
    return a.probability > b.probability;
  });
  if (static_cast<int64_t>(wrong.size()) > per_kind)
    wrong.resize(static_cast<std::size_t>(per_kind));
  gallery.wrong = std::move(wrong);
  return gallery;
}

}  // namespace cnnlab
