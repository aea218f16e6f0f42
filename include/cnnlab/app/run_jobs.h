#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "cnnlab/data/data_root.h"
#include "cnnlab/models/export.h"
#include "cnnlab/report/report.h"
#include "cnnlab/report/run_analysis.h"
#include "cnnlab/run/run.h"
#include "cnnlab/training/evaluate.h"

namespace cnnlab {

/// The data root of a saved run: `flag` (--data-dir) when given, else the root the run was
/// trained from (while that folder exists), else `fallback` ($CNNLAB_DATA or ./data, as the
/// program resolved them).
DataRoot data_root_of_run(const std::string& flag, const RunDir& run_dir, const DataRoot& fallback);

/// `cnnlab train`'s report: the run just trained, analysed from the model in memory, written to
/// the run directory's report.html. Returns that path.
std::filesystem::path report_trained_run(RunResult& trained, const DataRoot& root,
                                         const ReportOptions& report = {},
                                         const LoadCallbacks& loading = {});

/// `cnnlab report`: analyses each run (its data root from `root_of`) and writes one page
/// comparing them to `out`, which must end in .html; `on_run` hears of each run before its
/// analysis. Returns the folder of the chart data (see write_report).
std::filesystem::path report_runs(const std::vector<std::filesystem::path>& run_dirs,
                                  const std::function<DataRoot(const RunDir&)>& root_of,
                                  const AnalysisOptions& analysis, const std::filesystem::path& out,
                                  const ReportOptions& report = {},
                                  const LoadCallbacks& loading = {},
                                  const std::function<void(const RunDir&)>& on_run = {});

/// `cnnlab evaluate`: the test loss and accuracy of a saved run's `checkpoint`.
EvalResult evaluate_run(const RunDir& run_dir, const std::string& checkpoint,
                        const std::string& device, const DataRoot& root,
                        const LoadCallbacks& loading = {}, const EvalProgress& progress = {});

/// `cnnlab predict` of one image file.
struct FilePrediction {
  std::filesystem::path file;
  /// (class name, probability), most probable first.
  std::vector<std::pair<std::string, double>> top;
  /// Its Grad-CAM picture of the top class (empty unless asked for), from `grad_cam_layer`.
  std::filesystem::path grad_cam;
  std::string grad_cam_layer;
};

/// What to predict: the run's `checkpoint` on `device`, the `top` classes of each file, pixel
/// values inverted or not; with `grad_cam_dir`, a Grad-CAM picture of the top class of each
/// file there (<stem>.grad-cam.png) from `grad_cam_layer` (empty: the last conv layer).
struct PredictOptions {
  std::string checkpoint = "best";
  std::string device = "cpu";
  int64_t top = 3;
  bool invert = false;
  std::filesystem::path grad_cam_dir;
  std::string grad_cam_layer;
};

/// Throws ConfigError before any work when two files would write the same Grad-CAM picture.
std::vector<FilePrediction> predict_run(const RunDir& run_dir,
                                        const std::vector<std::filesystem::path>& files,
                                        const PredictOptions& options);

/// `cnnlab export`: the run's `checkpoint` as a PyTorch module (`format` "pytorch") or a Keras 2
/// model ("keras") in `out` (default: the run directory's pytorch/ or keras/). Throws
/// ConfigError for another format, or "keras" in a build without HDF5.
ExportedFiles export_run(const RunDir& run_dir, const std::string& checkpoint,
                         std::filesystem::path out, const std::string& generator,
                         const std::string& format = "pytorch");

/// `cnnlab summary`: the model summary of a config file, its class count (and, for CIFAR-10,
/// its input shape) from the dataset's name, without reading images.
std::string summarize_config(const std::filesystem::path& config_file,
                             const std::vector<std::string>& overrides, const DataRoot& root);

}  // namespace cnnlab
