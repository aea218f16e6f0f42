#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "cnnlab/models/network.h"

namespace cnnlab {

/// The output of one conv layer (after its activation) for one image.
struct FeatureMap {
  std::string layer;   // the layer's name, e.g. Conv1
  torch::Tensor maps;  // [channels, height, width] float32, contiguous NCHW
};

/// Runs `image` ([C, H, W] float32, already scaled and normalised as for training) through
/// `network` in evaluation mode and returns the output of every conv layer, in order.
std::vector<FeatureMap> conv_feature_maps(Network& network, const torch::Tensor& image);

}  // namespace cnnlab
