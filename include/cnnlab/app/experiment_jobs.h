#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cnnlab/experiments/plan.h"
#include "cnnlab/experiments/study.h"
#include "cnnlab/experiments/sweep.h"
#include "cnnlab/report/run_analysis.h"

namespace cnnlab {

/// What a sweep or a study tells its caller as it runs, and how it writes its pages.
struct ExperimentCallbacks : PlanCallbacks {
  /// Write report.html into each finished run directory that lacks one, analysed so.
  bool write_reports = true;
  AnalysisOptions analysis;
};

/// What run_sweep and run_study did.
struct ExperimentOutcome {
  std::vector<RunOutcome> runs;
  /// The comparison page written (sweep.html or study.html); empty when the plan was interrupted.
  std::filesystem::path page;
  bool interrupted = false;
};

/// Runs a sweep's points (see run_plan: finished points are skipped, an interrupted one resumes,
/// an impossible one is recorded) into `sweep_dir`, then writes sweep.html and sweep.csv there.
ExperimentOutcome run_sweep(const SweepSpec& spec, const std::filesystem::path& sweep_dir,
                            const DataRoot& root, const ExperimentCallbacks& callbacks = {});

/// Runs the study's plan into `study_dir`, analyses each part's runs and writes study.html there
/// with each sweep's page. `quick` marks the page as a quick run.
ExperimentOutcome run_study(const StudySpec& spec, const std::filesystem::path& study_dir,
                            const DataRoot& root, bool quick,
                            const ExperimentCallbacks& callbacks = {},
                            const std::vector<std::string>& extra = {});

}  // namespace cnnlab
