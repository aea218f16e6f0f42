#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "cnnlab/config/run_config.h"
#include "cnnlab/report/report.h"
#include "cnnlab/run/run.h"

namespace cnnlab {

/// `cnnlab train`: trains a new run, or continues a saved one, then writes its report from the
/// model in memory. In a distributed run every process runs the job; rank 0 alone writes.
struct TrainJob {
  /// A new run: its config (overrides applied); else `run_dir` is continued with its own.
  std::optional<RunConfig> config;
  RunDir run_dir;
  /// Continuing: train on this device (empty: the run's own).
  std::string device;
  DataRoot root;
  std::shared_ptr<ProcessGroup> group;
  TrainerCallbacks callbacks;
  LoadCallbacks loading;
  /// Write report.html once training completes.
  bool report = true;
  ReportOptions report_options;
  /// Once training ends (completed or not), before the report.
  std::function<void(const RunResult&)> on_trained;
};

struct TrainJobResult {
  RunResult run;
  /// The report written; empty when there is none.
  std::filesystem::path report;
  /// Why the report could not be written (the run is saved all the same); empty when it was.
  std::string report_error;
};

/// Throws what train_run and resume_run throw; a report that cannot be written is not an
/// exception but `report_error`.
TrainJobResult run_train_job(TrainJob job);

/// The directory of a new run: `out` when given, else a fresh one named after the config in
/// its output_dir (see fresh_run_dir).
RunDir new_run_dir(const RunConfig& config, const std::filesystem::path& out);

}  // namespace cnnlab
