#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cnnlab/run/run_dir.h"

namespace cnnlab {

/// Bins of the histograms kept per epoch.
constexpr int64_t kWeightHistogramBins = 40;

/// Writes weights/epoch-NNN.json in `run_dir`: a histogram of every parameter of `network` (each
/// over its own range) at the end of `epoch` (1-based), as
/// {"epoch": 3, "layers": [{"name": "Conv1.weight", "lo": -0.2, "hi": 0.2, "counts": [...]}]}.
/// The file is replaced atomically, so a run resumed from an earlier epoch simply rewrites it.
void write_weight_histograms(const RunDir& run_dir, int64_t epoch, torch::nn::Module& network);

/// The histograms written by write_weight_histograms for epochs 1 … `epochs`, in epoch order
/// (epochs without a file are left out). Throws DataFormatError naming a file that is not such
/// JSON.
nlohmann::json read_weight_histograms(const RunDir& run_dir, int64_t epochs);

}  // namespace cnnlab
