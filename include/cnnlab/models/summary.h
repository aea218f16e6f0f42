#pragma once

#include <string>

#include "cnnlab/models/layer_spec.h"

namespace cnnlab {

/// The table Keras 2 prints for model.summary() of a Sequential model, in its layout: 65
/// characters wide, a row per layer (name and type, channels-last output shape with None for the
/// batch, parameter count; a field too long for its column continues on the next line) followed
/// by a blank line, then the totals with their float32 size ("Total params: 225034 (879.04
/// KB)"). Throws ConfigError for an impossible model.
std::string model_summary(const ModelSpec& spec, const std::string& model_name);

/// Floating-point operations of one image's forward pass through the convolutions and dense
/// layers, a multiply-add counted as two (pooling, batch norm and activations, a few percent of
/// the total, are left out). A training step costs about three times this per image: the forward
/// pass, and the gradients with respect to inputs and to weights.
int64_t forward_flops(const ModelSpec& spec);

}  // namespace cnnlab
