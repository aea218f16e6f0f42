#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cnnlab/analysis/statistics.h"
#include "cnnlab/config/run_config.h"
#include "cnnlab/data/data_root.h"
#include "cnnlab/data/image_folder.h"
#include "cnnlab/run/run.h"
#include "cnnlab/training/history.h"

namespace cnnlab {

/// What to look at when a run is analysed for its report.
struct AnalysisOptions {
  /// Which weights to analyse: "last" (those metrics.json was measured with) or "best".
  TORCH_ARG(std::string, checkpoint) = "last";
  /// Where the network runs for the test-set predictions: "cpu", "cuda", "cuda:N" or "auto".
  TORCH_ARG(std::string, device) = "cpu";
  /// Test images whose feature maps are shown: a test-set index ("7") or a class name ("frog",
  /// meaning the first test image of that class). Empty: the first two test images.
  TORCH_ARG(std::vector<std::string>, images) = {};
  /// Correctly and wrongly classified test images shown in each gallery.
  TORCH_ARG(int64_t, gallery_size) = 24;
  /// Misclassified images shown with their saliency and Grad-CAM maps.
  TORCH_ARG(int64_t, saliency_count) = 8;
  /// The layer whose feature maps Grad-CAM weighs (see grad_cam_layer); empty: the last conv
  /// layer, or no Grad-CAM for a model without one.
  TORCH_ARG(std::string, grad_cam_layer) = "";
  /// Most confused class pairs listed, each with up to `pair_examples` images.
  TORCH_ARG(int64_t, confused_pairs) = 6;
  TORCH_ARG(int64_t, pair_examples) = 4;
  /// Analyse only the first this many test images (0: all of them).
  TORCH_ARG(int64_t, test_limit) = 0;
};

/// Throws ConfigError naming the option when a value is out of range.
void validate(const AnalysisOptions& options);

/// A picture for the page: PNG bytes and what it shows.
struct Picture {
  std::string png;
  std::string caption;
};

struct LayerFeatureMaps {
  std::string layer;
  std::vector<int64_t> shape;  // channels, height, width
  std::vector<std::string> channel_pngs;
  /// Channels that are zero everywhere for this image (a ReLU that never fires on it).
  std::vector<bool> silent;
};

struct FeatureMapImage {
  int64_t index = 0;  // in the test set
  int64_t true_class = 0;
  int64_t predicted_class = 0;
  double probability = 0;
  std::string png;
  std::vector<LayerFeatureMaps> layers;
};

struct ConfusedPairExamples {
  ConfusedPair pair;
  std::vector<Picture> examples;
};

struct SaliencyExample {
  GalleryItem item;
  std::string image_png;
  std::string saliency_png;
  /// Grad-CAM of the predicted and of the true class; empty when the model has no conv layer.
  std::string grad_cam_predicted_png;
  std::string grad_cam_true_png;
};

/// One weight tensor of the model and its values at the end of training.
struct LayerWeights {
  std::string name;      // e.g. Conv1.weight
  torch::Tensor values;  // flattened, float32
};

/// Everything the report shows about one run, read from its directory and computed on its test
/// set. Pictures are PNG bytes; text is as the user wrote it (the page escapes it).
struct RunAnalysis {
  std::filesystem::path run_dir;
  std::string name;
  std::string dataset;
  std::vector<std::string> class_names;
  std::string config_text;         // config.toml
  std::string summary_text;        // summary.txt
  nlohmann::json metrics;          // metrics.json, or null when the run has none (not finished)
  bool validates_on_test = false;  // its validation figures are test figures (validation_data)
  History history;
  std::vector<LayerWeights> weights;
  /// Weight histograms the run kept at every epoch end (weights.jsonl), possibly empty.
  nlohmann::json epoch_weight_histograms = nlohmann::json::array();

  int64_t test_count = 0;
  double test_accuracy = 0;  // of the analysed checkpoint on the analysed test images
  torch::Tensor confusion;   // [K, K] int64, row = true class
  std::vector<double> per_class_accuracy;
  std::vector<GalleryItem> right;
  std::vector<GalleryItem> wrong;
  std::vector<std::string> right_pngs;
  std::vector<std::string> wrong_pngs;
  std::vector<ConfusedPairExamples> confused;
  std::vector<Picture> first_layer_filters;
  std::string first_layer_name;
  std::vector<FeatureMapImage> feature_maps;
  std::vector<SaliencyExample> saliency;
  /// The layer the Grad-CAM maps come from; empty when there are none.
  std::string grad_cam_layer;
};

/// Test-set indices of `AnalysisOptions::images` entries: a number, or a class name meaning the
/// first test image of that class; empty: the first two images. Throws ConfigError (naming
/// --images) for a number past the end or a name that is no class.
std::vector<int64_t> chosen_images(const std::vector<std::string>& wanted, const Dataset& test);

/// Reads the run in `run_dir`, loads its test set from `root` and analyses its `checkpoint`.
/// Throws CheckpointError when `run_dir` holds no run, ConfigError for an unknown `images` entry,
/// and what load_test_set throws when the data cannot be read.
RunAnalysis analyze_run(const std::filesystem::path& run_dir, const DataRoot& root,
                        const AnalysisOptions& options = {}, const LoadCallbacks& loading = {});

/// The same for a model at hand (one just trained: RunResult::model) instead of a checkpoint read
/// back; the texts, history, weight histograms and metrics the page shows still come from
/// `run_dir`. options.checkpoint and options.device are not used: the model is analysed where it
/// is.
RunAnalysis analyze_run(LoadedRun& run, const std::filesystem::path& run_dir, const DataRoot& root,
                        const AnalysisOptions& options = {}, const LoadCallbacks& loading = {});

}  // namespace cnnlab
