#include "cnnlab/app/experiment_jobs.h"

#include <fmt/format.h>

#include "cnnlab/analysis/pictures.h"
#include "cnnlab/config/run_config.h"
#include "cnnlab/data/image_file.h"
#include "cnnlab/error.h"
#include "cnnlab/report/report.h"
#include "cnnlab/report/study_page.h"
#include "cnnlab/report/sweep_page.h"
#include "cnnlab/run/run_dir.h"

namespace cnnlab {
namespace fs = std::filesystem;

namespace {

// Copies of augmented test images shown in a study's preprocessing section.
constexpr int64_t kAugmentedCopies = 7;

std::vector<Picture> augmentation_pictures(const RunConfig& config, const DataRoot& root,
                                           const std::vector<std::string>& images,
                                           const LoadCallbacks& loading) {
  const AugmentOptions& augment = config.train.augment();
  if (!augment.enabled()) return {};
  DataOptions data = config.data;
  const Dataset test = load_test_set(data, root, loading);
  if (test.size() == 0) return {};
  const int64_t index = chosen_images(images, test).front();
  const torch::Tensor image = test.images.slice(0, index, index + 1);
  const std::string label = test.class_names[test.labels[index].item<int64_t>()];
  std::vector<Picture> pictures{
      {encode_png(image[0]), fmt::format("test image {} ({})", index, label)}};
  auto generator = at::make_generator<at::CPUGeneratorImpl>(/*seed=*/0);
  const torch::Tensor copies = augment_batch(
      image.to(torch::kFloat32).div(255).repeat({kAugmentedCopies, 1, 1, 1}), augment, generator);
  const torch::Tensor pixels = copies.mul(255).round().clamp(0, 255).to(torch::kUInt8);
  for (int64_t i = 0; i < kAugmentedCopies; ++i) {
    pictures.push_back({encode_png(pixels[i]), fmt::format("augmented {}", i + 1)});
  }
  return pictures;
}

std::optional<RunAnalysis> analysis_of(const RunOutcome& outcome, const DataRoot& root,
                                       const AnalysisOptions& options,
                                       const LoadCallbacks& loading) {
  if (outcome.metrics.is_null()) return std::nullopt;
  return analyze_run(outcome.run.run_dir, root, options, loading);
}

void write_missing_report(const fs::path& run_dir, const DataRoot& root,
                          const AnalysisOptions& analysis, const LoadCallbacks& loading) {
  const RunDir dir(run_dir);
  if (fs::exists(dir.report())) return;
  std::vector<RunAnalysis> runs{analyze_run(run_dir, root, analysis, loading)};
  write_report(runs, dir.report());
}

// The plan's callbacks, with each finished run's report written first when asked.
PlanCallbacks plan_callbacks(const ExperimentCallbacks& callbacks, const DataRoot& root) {
  PlanCallbacks plan = callbacks;
  if (callbacks.write_reports) {
    plan.on_run_finished = [&callbacks, &root](const RunOutcome& outcome) {
      write_missing_report(outcome.run.run_dir, root, callbacks.analysis, callbacks.loading);
      if (callbacks.on_run_finished) callbacks.on_run_finished(outcome);
    };
  }
  return plan;
}

bool interrupted(const std::vector<RunOutcome>& outcomes) {
  return std::any_of(outcomes.begin(), outcomes.end(),
                     [](const auto& o) { return o.status == RunStatus::kInterrupted; });
}

}  // namespace

ExperimentOutcome run_sweep(const SweepSpec& spec, const fs::path& sweep_dir, const DataRoot& root,
                            const ExperimentCallbacks& callbacks) {
  const auto points = expand_sweep(spec);
  ExperimentOutcome outcome;
  outcome.runs =
      run_plan(plan_sweep(points, spec.config, sweep_dir), root, plan_callbacks(callbacks, root));
  outcome.interrupted = interrupted(outcome.runs);
  if (outcome.interrupted) return outcome;
  std::vector<SweepResult> results;
  for (std::size_t i = 0; i < points.size(); ++i) results.push_back({points[i], outcome.runs[i]});
  outcome.page = SweepDir(sweep_dir).page();
  write_sweep_page(spec.name, results, outcome.page);
  return outcome;
}

ExperimentOutcome run_study(const StudySpec& spec, const fs::path& study_dir, const DataRoot& root,
                            bool quick, const ExperimentCallbacks& callbacks,
                            const std::vector<std::string>& extra) {
  const StudyPlan plan = plan_study(spec, study_dir, extra);
  ExperimentOutcome outcome;
  outcome.runs = run_plan(plan.runs, root, plan_callbacks(callbacks, root));
  outcome.interrupted = interrupted(outcome.runs);
  if (outcome.interrupted) return outcome;

  std::vector<StudyPartResults> parts;
  for (std::size_t p = 0; p < spec.parts.size(); ++p) {
    const StudyPart& part = spec.parts[p];
    const StudyPartPlan& where = plan.parts[p];
    StudyPartResults results;
    results.part = part;
    results.config = load_config_file(part.config, plan.runs[where.model].overrides);
    results.model = outcome.runs[where.model];
    AnalysisOptions options = callbacks.analysis;
    options.images(part.images);
    results.model_analysis = analysis_of(results.model, root, options, callbacks.loading);
    if (where.l2 != SIZE_MAX) {
      results.l2 = outcome.runs[where.l2];
      results.l2_analysis = analysis_of(*results.l2, root, options, callbacks.loading);
    }
    if (where.preset != SIZE_MAX) results.preset = outcome.runs[where.preset];
    if (where.preset_l2 != SIZE_MAX) results.preset_l2 = outcome.runs[where.preset_l2];
    for (std::size_t i = 0; i < where.sweep.size(); ++i) {
      results.sweep.push_back({where.points[i], outcome.runs[where.sweep[i]]});
    }
    results.augmented = augmentation_pictures(results.config, root, part.images, callbacks.loading);
    parts.push_back(std::move(results));
  }
  outcome.page = StudyDir(study_dir).page();
  write_study_page(spec, parts, outcome.page, quick);
  return outcome;
}

}  // namespace cnnlab
