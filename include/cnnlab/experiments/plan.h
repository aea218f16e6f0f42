#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cnnlab/data/data_root.h"
#include "cnnlab/data/image_folder.h"
#include "cnnlab/training/trainer.h"

namespace cnnlab {

/// One run of a sweep or a study: a config file, overrides, and where the run lives.
struct PlannedRun {
  std::string label;
  std::filesystem::path config;
  std::vector<std::string> overrides;
  std::filesystem::path run_dir;
};

enum class RunStatus {
  kTrained,      // trained (or resumed) to the end now
  kAlreadyDone,  // its directory already held a finished run
  kCannotBuild,  // its layers do not fit their input (a model Keras cannot build either)
  kFailed,       // its config is invalid, or training diverged
  kInterrupted,  // stopped on request; the next run_plan resumes it
  kNotRun,       // after an interruption
};

struct RunOutcome {
  PlannedRun run;
  RunStatus status = RunStatus::kNotRun;
  std::string error;       // why it failed
  nlohmann::json metrics;  // the run's metrics.json when finished, else null
};

/// The time a plan still needs, estimated from its finished runs: seconds per training image of
/// each config file, times the images each run left will train.
struct TimeLeft {
  double seconds = 0;       // for the runs left whose config has a finished run to go by
  std::size_t untimed = 0;  // runs left whose config has none yet
};

struct PlanCallbacks {
  /// Before each run: its 0-based index, the number of runs, and the time left for it and all
  /// after it.
  std::function<void(std::size_t index, std::size_t total, const PlannedRun& run,
                     const TimeLeft& left)>
      on_run_begin;
  std::function<void(const RunOutcome&)> on_run_end;
  /// Passed to every run's training (progress bars; stop_requested interrupts the plan).
  TrainerCallbacks trainer;
  LoadCallbacks loading;
  /// After a run that is finished (trained now or before), before on_run_end: e.g. to write its
  /// report. What it throws propagates.
  std::function<void(const RunOutcome&)> on_run_finished;
};

/// Runs the plan in order. A run whose directory holds metrics.json is not trained again; one
/// with a config but no metrics (interrupted earlier) is resumed; a run that fails with a
/// ConfigError or DivergenceError is recorded and the plan goes on. An interruption
/// (callbacks.trainer.stop_requested) ends the plan: that run and those after it are left for the
/// next call. Other errors (a missing dataset, a full disk) propagate.
std::vector<RunOutcome> run_plan(const std::vector<PlannedRun>& plan, const DataRoot& root,
                                 const PlanCallbacks& callbacks = {});

/// "trained", "already done", "failed", "interrupted", "not run".
const char* run_status_name(RunStatus status);

}  // namespace cnnlab
