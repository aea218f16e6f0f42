#pragma once

#include <torch/torch.h>

#include "cnnlab/models/network.h"

namespace cnnlab {

struct SaliencyOptions {
  /// Gradients averaged over this many noisy copies of the image (SmoothGrad, Smilkov et al.,
  /// 2017); 1: the plain gradient of the image itself.
  TORCH_ARG(int64_t, samples) = 1;
  /// Standard deviation of the noise, as a fraction of the image's value range.
  TORCH_ARG(double, noise) = 0.15;
  /// Seeds the noise, so that a report shows the same map every time.
  TORCH_ARG(uint64_t, seed) = 0;
};

/// Where the model looked: the gradient of the score (logit) of `target_class` with respect to
/// each input pixel, its absolute value taken as the largest over the channels (Simonyan et al.,
/// 2014), averaged over `options.samples` noisy copies. image: [C, H, W] float32, scaled and
/// normalised as for training. Returns [H, W] float32 in [0, 1], scaled so that the largest value
/// is 1 (all zeros when the gradient vanishes). The network is run in evaluation mode and left in
/// the mode it was in.
torch::Tensor saliency_map(Network& network, const torch::Tensor& image, int64_t target_class,
                           const SaliencyOptions& options = {});

}  // namespace cnnlab
