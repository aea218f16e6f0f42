#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cnnlab/report/run_analysis.h"

namespace cnnlab {

/// A Vega-Lite chart of the report: its spec holds its data inline (spec["data"]["values"]),
/// which the report also writes to `<id>.json` for users who plot it their own way.
struct Chart {
  std::string id;
  nlohmann::json spec;
};

/// Smoothing weights the learning-curve chart offers (0: raw).
const std::vector<double>& learning_curve_smoothings();

/// Training and validation accuracy and loss per epoch, one colour per run.
Chart epoch_curves_chart(const std::vector<RunAnalysis>& runs);

/// A run's test accuracy at a point of its wall time.
struct TimedAccuracy {
  double seconds = 0;  // since the run's command started (data loading included)
  double accuracy = 0;
  int64_t epoch = 0;  // the epoch it followed; 0: the final test
};

/// The test accuracies a run recorded against its wall time: its final test at the end of the
/// command, and for a run that validates on the test set, every epoch's validation at that epoch's
/// end. Empty for a run that did not record its wall time (resumed, unfinished or older runs).
std::vector<TimedAccuracy> test_accuracy_over_time(const RunAnalysis& run);

/// Test accuracy against wall time, one line per run (an empty id when no run recorded it).
Chart accuracy_over_time_chart(const std::vector<RunAnalysis>& runs);

/// Batch accuracy and loss at every step (every k-th on long runs), with a control that picks the
/// smoothing.
Chart learning_curve_chart(const std::vector<RunAnalysis>& runs);

/// Histograms of every weight tensor at the end of training, runs overlaid on shared bins.
Chart weight_histogram_chart(const std::vector<RunAnalysis>& runs, int64_t bins);

/// Histograms of every weight tensor at each epoch end, for the runs that kept them (none: an
/// empty id).
Chart epoch_weight_chart(const std::vector<RunAnalysis>& runs);

/// Test accuracy of each class, runs side by side.
Chart per_class_chart(const std::vector<RunAnalysis>& runs);

/// Confusion matrix of one run, counts in the cells; `id` names the chart.
Chart confusion_chart(const RunAnalysis& run, const std::string& id);

}  // namespace cnnlab
