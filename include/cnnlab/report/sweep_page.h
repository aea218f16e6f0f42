#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "cnnlab/experiments/plan.h"
#include "cnnlab/experiments/sweep.h"
#include "cnnlab/report/charts.h"

namespace cnnlab {

/// One point of a sweep and what became of its run.
struct SweepResult {
  SweepPoint point;
  RunOutcome outcome;
};

/// The points of a sweep that differ only in `train.seed`, and their test accuracy over seeds.
struct SweepGroup {
  /// The non-seed axes' values ("kernel=5,stride=2"); "all" when the sweep varies only seeds.
  std::string label;
  std::vector<std::pair<std::string, std::string>> values;  // (axis name, value as shown)
  std::vector<std::size_t> members;                         // indexes into the results
  int64_t finished = 0;                                     // members with a test accuracy
  double mean_accuracy = std::numeric_limits<double>::quiet_NaN();
  /// Sample standard deviation over the finished seeds (0 for one run).
  double stdev_accuracy = std::numeric_limits<double>::quiet_NaN();
  double params = std::numeric_limits<double>::quiet_NaN();
  double seconds_per_epoch = std::numeric_limits<double>::quiet_NaN();  // mean over members
  /// Why the members that failed did, one line each.
  std::vector<std::string> errors;
};

/// Groups the results by their non-seed values, in the order the sweep lists them.
std::vector<SweepGroup> group_sweep(const std::vector<SweepResult>& results);

/// Test accuracy (mean ± standard deviation over seeds) against the first non-seed axis, one line
/// per value of the others.
Chart sweep_chart(const std::vector<SweepGroup>& groups, const std::string& id);

/// The sweep's table: a row per group with its values, accuracy, parameters, seconds per epoch,
/// status and links to the runs' reports (relative to `page_dir`, the folder of the page).
std::string sweep_table_html(const std::vector<SweepResult>& results,
                             const std::vector<SweepGroup>& groups,
                             const std::filesystem::path& page_dir);

/// One row per run: label, axis values, status, test accuracy, parameters, seconds per epoch,
/// run directory, error.
std::string sweep_csv(const std::vector<SweepResult>& results);

/// Writes the sweep's page to `out` (sweep.html) and sweep.csv beside it; both atomically.
void write_sweep_page(const std::string& name, const std::vector<SweepResult>& results,
                      const std::filesystem::path& out);

}  // namespace cnnlab
