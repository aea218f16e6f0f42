#include "cnnlab/report/run_analysis.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>

#include "cnnlab/analysis/feature_maps.h"
#include "cnnlab/analysis/grad_cam.h"
#include "cnnlab/analysis/pictures.h"
#include "cnnlab/analysis/saliency.h"
#include "cnnlab/data/image_file.h"
#include "cnnlab/error.h"
#include "cnnlab/run/history_files.h"
#include "cnnlab/run/metrics.h"
#include "cnnlab/run/run.h"
#include "cnnlab/run/weight_history.h"
#include "cnnlab/training/evaluate.h"

namespace cnnlab {
namespace fs = std::filesystem;

namespace {

// SmoothGrad's noisy copies per saliency map: enough to wash out the speckle of a single
// gradient, few enough to stay a fraction of a second per image.
constexpr int64_t kSaliencySamples = 24;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::vector<int64_t> chosen_images(const std::vector<std::string>& wanted, const Dataset& test) {
  if (wanted.empty()) {
    std::vector<int64_t> first;
    for (int64_t i = 0; i < std::min<int64_t>(2, test.size()); ++i) first.push_back(i);
    return first;
  }
  std::vector<int64_t> indices;
  for (const auto& entry : wanted) {
    const bool numeric =
        !entry.empty() && entry.find_first_not_of("0123456789") == std::string::npos;
    if (numeric) {
      const int64_t index = std::stoll(entry);
      if (index >= test.size()) {
        throw ConfigError(
            fmt::format("--images: test image {} does not exist (the test set has "
                        "{} images, numbered from 0)",
                        entry, test.size()));
      }
      indices.push_back(index);
      continue;
    }
    const auto name = std::find(test.class_names.begin(), test.class_names.end(), entry);
    if (name == test.class_names.end()) {
      throw ConfigError(fmt::format(
          "--images: '{}' is neither a test image number nor a class name (classes: {})", entry,
          fmt::join(test.class_names, ", ")));
    }
    const int64_t label = name - test.class_names.begin();
    const auto hits = test.labels.eq(label).nonzero();
    if (hits.size(0) == 0) {
      throw ConfigError(fmt::format("--images: the test set has no image of class '{}'", entry));
    }
    indices.push_back(hits[0][0].item<int64_t>());
  }
  return indices;
}

namespace {

std::string image_png(const Dataset& data, int64_t index) { return encode_png(data.images[index]); }

}  // namespace

void validate(const AnalysisOptions& options) {
  if (options.checkpoint() != "best" && options.checkpoint() != "last") {
    throw ConfigError(
        fmt::format("--checkpoint: expected best or last, found '{}'", options.checkpoint()));
  }
  for (const auto& [name, value] : {std::pair{"--gallery-size", options.gallery_size()},
                                    std::pair{"--saliency-count", options.saliency_count()},
                                    std::pair{"--confused-pairs", options.confused_pairs()},
                                    std::pair{"--pair-examples", options.pair_examples()},
                                    std::pair{"--test-limit", options.test_limit()}}) {
    if (value < 0)
      throw ConfigError(fmt::format("{}: expected a count ≥ 0, found {}", name, value));
  }
}

RunAnalysis analyze_run(const fs::path& run_dir, const DataRoot& root,
                        const AnalysisOptions& options, const LoadCallbacks& loading) {
  validate(options);
  LoadedRun run = load_run(run_dir, options.checkpoint(), options.device());
  return analyze_run(run, run_dir, root, options, loading);
}

RunAnalysis analyze_run(LoadedRun& run, const fs::path& run_dir, const DataRoot& root,
                        const AnalysisOptions& options, const LoadCallbacks& loading) {
  validate(options);
  run.network->eval();
  apply_thread_setting(run.config.threads);
  RunAnalysis a;
  a.run_dir = run_dir;
  a.name = run.config.name;
  a.dataset = run.config.data.dataset();
  a.class_names = run.config.class_names;
  const RunDir dir(run_dir);
  a.config_text = read_text(dir.config());
  a.summary_text = read_text(dir.summary());
  a.metrics = read_metrics(dir);
  a.validates_on_test = run.config.data.validate_on_test();
  a.history = read_history(run_dir);
  a.epoch_weight_histograms =
      read_weight_histograms(run_dir, static_cast<int64_t>(a.history.epochs.size()));
  Network& network = run.network;
  // Checked before the test set is read, so that a wrong layer name fails at once. A model
  // without conv layers has no Grad-CAM unless one is asked for (which then fails).
  const auto& layers = network->spec().layers;
  const bool has_conv = std::any_of(layers.begin(), layers.end(), [](const LayerSpec& layer) {
    return layer.type == LayerType::kConv2d;
  });
  std::optional<std::size_t> cam_layer;
  if (has_conv || !options.grad_cam_layer().empty()) {
    cam_layer = grad_cam_layer(network->spec(), options.grad_cam_layer(), "--grad-cam-layer");
    a.grad_cam_layer = layers[*cam_layer].name;
  }
  for (const auto& item : network->named_parameters()) {
    a.weights.push_back({item.key(), item.value().detach().flatten().to(torch::kFloat32).clone()});
  }

  Dataset test = load_test_set(run.config.data, root, loading);
  if (options.test_limit() > 0 && options.test_limit() < test.size()) {
    test = test.slice(0, options.test_limit());
  }
  if (test.num_classes() != static_cast<int64_t>(a.class_names.size()) ||
      test.channels() != run.config.model.input[0] || test.height() != run.config.model.input[1] ||
      test.width() != run.config.model.input[2]) {
    throw ConfigError(fmt::format(
        "{}: the run was trained on {} classes of {}x{}x{} images; its test set now has {} "
        "classes of {}x{}x{}",
        run_dir.string(), a.class_names.size(), run.config.model.input[0],
        run.config.model.input[1], run.config.model.input[2], test.num_classes(), test.channels(),
        test.height(), test.width()));
  }
  const auto& norm = run.normalization;
  const auto probabilities =
      predict_probabilities(network, test, norm, run.config.train.eval_batch_size(),
                            run.config.train.precision(), run.config.train.tta());
  const auto predicted = probabilities.argmax(1);
  const int64_t k = test.num_classes();
  a.test_count = test.size();
  a.test_accuracy =
      test.size() > 0 ? predicted.eq(test.labels).to(torch::kFloat64).mean().item<double>() : 0;
  a.confusion = confusion_matrix(test.labels, predicted, k);
  a.per_class_accuracy = per_class_accuracy(a.confusion);

  const Gallery gallery = select_gallery(probabilities, test.labels, options.gallery_size());
  a.right = gallery.right;
  a.wrong = gallery.wrong;
  for (const auto& item : a.right) a.right_pngs.push_back(image_png(test, item.index));
  for (const auto& item : a.wrong) a.wrong_pngs.push_back(image_png(test, item.index));

  for (const auto& pair : most_confused_pairs(a.confusion, options.confused_pairs())) {
    ConfusedPairExamples examples{pair, {}};
    const auto hits =
        (test.labels.eq(pair.true_class) & predicted.eq(pair.predicted_class)).nonzero();
    for (int64_t i = 0; i < std::min<int64_t>(hits.size(0), options.pair_examples()); ++i) {
      const int64_t index = hits[i][0].item<int64_t>();
      examples.examples.push_back(
          {image_png(test, index),
           fmt::format("#{} · {:.2f}", index,
                       probabilities[index][pair.predicted_class].item<double>())});
    }
    a.confused.push_back(std::move(examples));
  }

  for (const auto& layer : network->spec().layers) {
    if (layer.type != LayerType::kConv2d) continue;
    for (const auto& item : network->named_parameters()) {
      if (item.key() != layer.name + ".weight") continue;
      a.first_layer_name = layer.name;
      int64_t filter = 0;
      for (auto& picture : filter_pictures(item.value())) {
        a.first_layer_filters.push_back({encode_png(picture), fmt::format("{}", filter++)});
      }
    }
    break;
  }

  for (const int64_t index : chosen_images(options.images(), test)) {
    FeatureMapImage image;
    image.index = index;
    image.true_class = test.labels[index].item<int64_t>();
    image.predicted_class = predicted[index].item<int64_t>();
    image.probability = probabilities[index][image.predicted_class].item<double>();
    image.png = image_png(test, index);
    const auto input = to_network_input(test.images.slice(0, index, index + 1), norm)[0];
    for (const auto& layer : conv_feature_maps(network, input)) {
      LayerFeatureMaps maps{layer.layer, layer.maps.sizes().vec(), {}, {}};
      for (int64_t c = 0; c < layer.maps.size(0); ++c) {
        maps.channel_pngs.push_back(encode_png(stretch_to_picture(layer.maps[c])));
        maps.silent.push_back(layer.maps[c].abs().max().item<float>() == 0.0f);
      }
      image.layers.push_back(std::move(maps));
    }
    a.feature_maps.push_back(std::move(image));
  }

  for (int64_t i = 0; i < std::min<int64_t>(options.saliency_count(), a.wrong.size()); ++i) {
    const auto& item = a.wrong[i];
    const auto input = to_network_input(test.images.slice(0, item.index, item.index + 1), norm)[0];
    const auto& picture = test.images[item.index];
    const auto heat = saliency_map(network, input, item.predicted_class,
                                   SaliencyOptions().samples(kSaliencySamples));
    SaliencyExample example{item, image_png(test, item.index),
                            encode_png(heat_overlay(picture, heat)), "", ""};
    if (cam_layer) {
      example.grad_cam_predicted_png = encode_png(
          heat_overlay(picture, grad_cam(network, input, item.predicted_class, *cam_layer)));
      example.grad_cam_true_png =
          encode_png(heat_overlay(picture, grad_cam(network, input, item.true_class, *cam_layer)));
    }
    a.saliency.push_back(std::move(example));
  }
  return a;
}

}  // namespace cnnlab
