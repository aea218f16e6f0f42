#pragma once

#include <nlohmann/json.hpp>

#include "cnnlab/run/run_dir.h"

namespace cnnlab {

/// The metrics of a finished run (metrics.json): test_accuracy, test_loss, test_count, epochs,
/// best_val_accuracy, final_val_accuracy, params, train_seconds, train_images_per_second,
/// threads, precision, device, processes, machine {cpu, cores, libtorch, cuda} and, with early
/// stopping, early_stopping {monitor, best_epoch, best_value, stopped_epoch,
/// restored_best_weights}. Runs written by older versions may lack some; readers treat a missing
/// figure as unknown.
using RunMetrics = nlohmann::json;

/// Writes the metrics of `run_dir` atomically: a run holds them once it is complete.
void write_metrics(const RunDir& run_dir, const RunMetrics& metrics);

/// The metrics of `run_dir`, or null when it has none (not finished). Throws DataFormatError
/// naming the file when it is not a JSON object.
RunMetrics read_metrics(const RunDir& run_dir);

}  // namespace cnnlab
