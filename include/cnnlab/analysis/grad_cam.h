#pragma once

#include <torch/torch.h>

#include <string>

#include "cnnlab/models/network.h"

namespace cnnlab {

/// The layer Grad-CAM looks at: the one named `name`, which must output feature maps (come before
/// the model's flatten layer); empty `name`: the last conv layer, where the maps are most
/// abstract yet still keep where things are, or the batch norm (or dropout) layers right after it
/// when there are: the classifier reads the normalised maps, and a map's offset in batch norm
/// can turn the evidence of the raw one around. Returns the layer's index in `spec.layers`. Throws
/// ConfigError, `where` (e.g. "--grad-cam-layer") first, for a name that is no layer or a layer
/// without feature maps, and when the model has no conv layer at all.
std::size_t grad_cam_layer(const ModelSpec& spec, const std::string& name,
                           const std::string& where);

/// Grad-CAM (Selvaraju et al., 2017): which regions of the image made the model score
/// `target_class`. The gradient of that class's score (logit) with respect to the feature maps A
/// of `spec.layers[layer]`, averaged over each map, weighs the maps: ReLU(Σₖ αₖ·Aₖ); upsampled
/// bilinearly to the image's size. Coarser than a saliency map (the layer's resolution), but it
/// shows evidence for the class rather than sensitivity of the score.
/// image: [C, H, W] float32, scaled and normalised as for training. Returns [H, W] float32 in
/// [0, 1], scaled so that the largest value is 1; all zeros when no region speaks for the class.
/// The network is run in float32 and evaluation mode and left in the mode it was in.
torch::Tensor grad_cam(Network& network, const torch::Tensor& image, int64_t target_class,
                       std::size_t layer);

}  // namespace cnnlab
