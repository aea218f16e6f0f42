#include "cnnlab/app/run_jobs.h"

#include <fmt/format.h>

#include <map>

#include "cnnlab/analysis/grad_cam.h"
#include "cnnlab/config/run_config.h"
#include "cnnlab/data/image_file.h"
#include "cnnlab/error.h"
#include "cnnlab/io/atomic_file.h"
#include "cnnlab/models/keras_export.h"
#include "cnnlab/models/summary.h"

namespace cnnlab {
namespace fs = std::filesystem;

namespace {

// Where Grad-CAM pictures go: <stem>.grad-cam.png in `dir`. Two files with the same stem would
// overwrite each other's picture, so they are refused up front.
std::vector<fs::path> grad_cam_paths(const std::vector<fs::path>& files, const fs::path& dir) {
  std::map<fs::path, fs::path> taken;
  std::vector<fs::path> paths;
  for (const auto& file : files) {
    const fs::path path = dir / (file.stem().string() + ".grad-cam.png");
    const auto [it, fresh] = taken.emplace(path, file);
    if (!fresh) {
      throw ConfigError(fmt::format(
          "--grad-cam: {} and {} would both write {}; rename one or predict them separately",
          it->second.string(), file.string(), path.string()));
    }
    paths.push_back(path);
  }
  return paths;
}

}  // namespace

DataRoot data_root_of_run(const std::string& flag, const RunDir& run_dir,
                          const DataRoot& fallback) {
  if (!flag.empty()) return {fs::path(flag), "--data-dir"};
  const fs::path recorded = recorded_data_root(run_dir);
  std::error_code ec;
  if (!recorded.empty() && fs::is_directory(recorded, ec)) {
    return {recorded, "the record in " + run_dir.string()};
  }
  return fallback;
}

fs::path report_trained_run(RunResult& trained, const DataRoot& root, const ReportOptions& report,
                            const LoadCallbacks& loading) {
  std::vector<RunAnalysis> runs{
      analyze_run(trained.model, trained.run_dir, root, AnalysisOptions(), loading)};
  const fs::path out = RunDir(trained.run_dir).report();
  write_report(runs, out, report);
  return out;
}

fs::path report_runs(const std::vector<fs::path>& run_dirs,
                     const std::function<DataRoot(const RunDir&)>& root_of,
                     const AnalysisOptions& analysis, const fs::path& out,
                     const ReportOptions& report, const LoadCallbacks& loading,
                     const std::function<void(const RunDir&)>& on_run) {
  validate(analysis);
  if (out.extension() != ".html") {
    throw ConfigError(
        fmt::format("--out: expected a file name ending in .html, found '{}'", out.string()));
  }
  std::vector<RunAnalysis> runs;
  for (const auto& dir : run_dirs) {
    if (on_run) on_run(dir);
    runs.push_back(analyze_run(dir, root_of(dir), analysis, loading));
  }
  return write_report(runs, out, report);
}

EvalResult evaluate_run(const RunDir& run_dir, const std::string& checkpoint,
                        const std::string& device, const DataRoot& root,
                        const LoadCallbacks& loading, const EvalProgress& progress) {
  LoadedRun run = load_run(run_dir, checkpoint, device);
  apply_thread_setting(run.config.threads);
  const Dataset test = load_test_set(run.config.data, root, loading);
  return evaluate(run.network, test, run.normalization, run.config.train.eval_batch_size(),
                  run.config.train.precision(), nullptr, progress, run.config.train.tta());
}

std::vector<FilePrediction> predict_run(const RunDir& run_dir, const std::vector<fs::path>& files,
                                        const PredictOptions& options) {
  LoadedRun run = load_run(run_dir, options.checkpoint, options.device);
  std::vector<fs::path> pictures;
  std::size_t cam_layer = 0;
  if (!options.grad_cam_dir.empty()) {
    cam_layer = grad_cam_layer(run.config.model, options.grad_cam_layer, "--grad-cam-layer");
    pictures = grad_cam_paths(files, options.grad_cam_dir);
    ensure_writable_directory(options.grad_cam_dir);
  }
  const auto& names = run.config.class_names;
  std::vector<FilePrediction> results;
  const auto predictions = predict_files(run, files, options.top, options.invert);
  for (std::size_t i = 0; i < predictions.size(); ++i) {
    FilePrediction result;
    result.file = predictions[i].file;
    for (const auto& [index, probability] : predictions[i].top) {
      result.top.emplace_back(names[static_cast<std::size_t>(index)], probability);
    }
    if (!pictures.empty()) {
      const int64_t top_class = predictions[i].top.front().first;
      write_png(pictures[i],
                grad_cam_picture(run, result.file, top_class, cam_layer, options.invert));
      result.grad_cam = pictures[i];
      result.grad_cam_layer = run.config.model.layers[cam_layer].name;
    }
    results.push_back(std::move(result));
  }
  return results;
}

ExportedFiles export_run(const RunDir& run_dir, const std::string& checkpoint, fs::path out,
                         const std::string& generator, const std::string& format) {
  if (format != "pytorch" && format != "keras") {
    throw ConfigError(fmt::format("--format: expected pytorch or keras, found '{}'", format));
  }
  if (format == "keras" && !keras_export_built()) {
    throw ConfigError(
        "--format keras: this cnnlab was built without HDF5, which Keras' weights format needs; "
        "install libhdf5-dev (scripts/setup.sh does) and rebuild");
  }
  LoadedRun run = load_run(run_dir, checkpoint);
  if (out.empty()) out = run_dir.path() / format;
  ExportInfo info;
  info.name = run.config.name;
  info.class_names = run.config.class_names;
  info.normalization = run.normalization;
  info.generator = generator;
  return format == "keras" ? export_keras(*run.network, info, out)
                           : export_pytorch(*run.network, info, out);
}

std::string summarize_config(const fs::path& config_file, const std::vector<std::string>& overrides,
                             const DataRoot& root) {
  RunConfig config = load_config_file(config_file, overrides);
  const auto names = dataset_class_names(config.data, root);
  config.model.num_classes = static_cast<int64_t>(names.size());
  if (config.data.dataset() == "cifar10") config.model.input = {3, 32, 32};
  return model_summary(config.model, config.name);
}

}  // namespace cnnlab
