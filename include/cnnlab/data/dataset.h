#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace cnnlab {

/// An in-memory labelled image set, kept as uint8 so that CIFAR-10 and MNIST fit in a few
/// hundred megabytes; batches are converted to float only when they are used.
struct Dataset {
  /// images: [N, C, H, W] uint8 in [0, 255]
  torch::Tensor images;
  /// labels: [N] int64 in [0, class_names.size())
  torch::Tensor labels;
  std::vector<std::string> class_names;

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }

  /// Images [begin, end) as a view (no copy).
  Dataset slice(int64_t begin, int64_t end) const;
};

/// Splits off the validation set the way Keras' `validation_split` does: the *last* `fraction`
/// of the samples, taken before any shuffling. Returns {train, validation}; `fraction` must lie
/// in [0, 1).
std::pair<Dataset, Dataset> validation_split(const Dataset& data, double fraction);

/// Per-channel pixel normalisation applied after scaling to [0, 1]; empty means none.
struct Normalization {
  std::vector<double> mean;
  std::vector<double> std;
  bool enabled() const { return !mean.empty(); }
};

/// Per-channel mean and standard deviation of `data`'s pixels scaled to [0, 1].
Normalization channel_statistics(const Dataset& data);

/// images: [B, C, H, W] uint8 in [0, 255] → float32 in [0, 1].
torch::Tensor to_unit_float(const torch::Tensor& images);

/// x: [B, C, H, W] float32 in [0, 1] → (x - mean) / std per channel, in place; x unchanged when
/// `norm` is empty. Returns x.
torch::Tensor normalize_(torch::Tensor x, const Normalization& norm);

/// Converts a batch for the network: to_unit_float, then normalize_.
/// images: [B, C, H, W] uint8 in [0, 255] → [B, C, H, W] float32, in [0, 1] when `norm` is
/// empty, else (x - mean) / std per channel.
torch::Tensor to_network_input(const torch::Tensor& images, const Normalization& norm);

}  // namespace cnnlab
