#pragma once

#include <string>

#include "cnnlab/models/layer_spec.h"

namespace cnnlab {

/// A table like Keras' model.summary(): layer name and type, output shape (N, C, H, W order,
/// None for the batch), parameter count, then the totals. Throws ConfigError for an impossible
/// model.
std::string model_summary(const ModelSpec& spec, const std::string& model_name);

/// Floating-point operations of one image's forward pass through the convolutions and dense
/// layers, a multiply-add counted as two (pooling, batch norm and activations, a few percent of
/// the total, are left out). A training step costs about three times this per image: the forward
/// pass, and the gradients with respect to inputs and to weights.
int64_t forward_flops(const ModelSpec& spec);

}  // namespace cnnlab
