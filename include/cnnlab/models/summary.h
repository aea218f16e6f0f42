#pragma once

#include <string>

#include "cnnlab/models/layer_spec.h"

namespace cnnlab {

/// A table like Keras' model.summary(): layer name and type, output shape (N, C, H, W order,
/// None for the batch), parameter count, then the totals. Throws ConfigError for an impossible
/// model.
std::string model_summary(const ModelSpec& spec, const std::string& model_name);

}  // namespace cnnlab
