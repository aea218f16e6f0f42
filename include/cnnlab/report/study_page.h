#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cnnlab/config/run_config.h"
#include "cnnlab/experiments/study.h"
#include "cnnlab/report/run_analysis.h"
#include "cnnlab/report/sweep_page.h"

namespace cnnlab {

/// What a study part produced: its runs' outcomes, their analyses where they finished, and
/// pictures of the preprocessing.
struct StudyPartResults {
  StudyPart part;
  RunConfig config;  // the model run's config (with the study's overrides)
  RunOutcome model;
  std::optional<RunOutcome> l2;
  /// The part's tuned preset and its L2 variant, where the study names one.
  std::optional<RunOutcome> preset, preset_l2;
  std::optional<RunAnalysis> model_analysis;
  std::optional<RunAnalysis> l2_analysis;
  std::vector<SweepResult> sweep;
  /// A test image and augmented copies of it, as the training batches see them (when the config
  /// augments).
  std::vector<Picture> augmented;
};

/// "As stride went from 1 to 3 (kernel=3), test accuracy fell from 0.9910 to 0.9620 …": what the
/// sweep shows along each axis, its best and worst points, and the points that failed.
std::string sweep_findings(const std::vector<SweepGroup>& groups);

/// "With L2, 61.0% of Dense.weight values lie within ±0.01, against 23.0% without …".
std::string l2_findings(const RunAnalysis& plain, const RunAnalysis& l2);

/// The study's conclusions, each tested on the runs (filter size barely matters, accuracy falls
/// as stride rises, L2 does not raise accuracy, L2 pulls weights toward zero): a list with the
/// figures and a verdict, "Reproduced", "Not reproduced" or "Not decided", against twice the
/// pooled spread over the sweep's seeds. Empty when nothing can be tested.
std::string conclusions_html(const std::vector<StudyPartResults>& parts);

/// The study's report: results beside the study's numbers, then per part (numbered 1, 2, …) its
/// preprocessing (where it augments), training curves and sweep, examples, feature maps and L2
/// comparison, each with sentences computed from the results. Links to the runs' reports are
/// relative to `page_dir`.
std::string render_study_page(const StudySpec& spec, const std::vector<StudyPartResults>& parts,
                              const std::filesystem::path& page_dir, bool quick);

/// Writes render_study_page to `out` atomically, and each part's sweep as
/// `<out's folder>/<part>-sweep/sweep.html` with sweep.csv.
void write_study_page(const StudySpec& spec, const std::vector<StudyPartResults>& parts,
                      const std::filesystem::path& out, bool quick);

}  // namespace cnnlab
