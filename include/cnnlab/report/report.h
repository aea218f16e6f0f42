#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cnnlab/report/run_analysis.h"

namespace cnnlab {

struct ReportOptions {
  /// The page's heading; empty: "cnnlab report: " and the runs' names.
  TORCH_ARG(std::string, title) = "";
  /// Bins of the weight histograms at the end of training.
  TORCH_ARG(int64_t, histogram_bins) = 60;
  /// Shown in the page's header line ("written … by cnnlab x.y.z").
  TORCH_ARG(std::string, generator) = "cnnlab";
};

/// The report as one self-contained HTML page: the charting libraries, every chart's spec and
/// data, and every picture (as PNG data: URLs) are inside it, and its Content-Security-Policy
/// forbids any network request. Text from users (run and class names, configs) is escaped.
/// Several runs are compared: their curves and weight histograms share axes.
std::string render_report(const std::vector<RunAnalysis>& runs, const ReportOptions& options = {});

/// Writes render_report to `out` (atomically: a page that exists is complete) and the data behind
/// every chart as JSON, with the per-run predictions and metrics as CSV, to the folder
/// `<out without extension>_data/`. Returns that folder. Throws IoError naming a path that
/// cannot be written, ConfigError when `runs` is empty.
std::filesystem::path write_report(const std::vector<RunAnalysis>& runs,
                                   const std::filesystem::path& out,
                                   const ReportOptions& options = {});

}  // namespace cnnlab
