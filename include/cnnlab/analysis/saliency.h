#pragma once

#include <torch/torch.h>

#include "cnnlab/models/network.h"

namespace cnnlab {

/// Where the model looked: the gradient of the score (logit) of `target_class` with respect to
/// each input pixel, its absolute value taken as the largest over the channels (Simonyan et al.,
/// 2014). image: [C, H, W] float32, scaled and normalised as for training. Returns [H, W] float32
/// in [0, 1], scaled so that the largest value is 1 (all zeros when the gradient vanishes).
/// The network is run in evaluation mode and left in the mode it was in.
torch::Tensor saliency_map(Network& network, const torch::Tensor& image, int64_t target_class);

}  // namespace cnnlab
