#include "cnnlab/run/weight_history.h"

#include <fmt/format.h>

#include <fstream>

#include "cnnlab/analysis/statistics.h"
#include "cnnlab/error.h"
#include "cnnlab/io/atomic_file.h"

namespace cnnlab {
namespace fs = std::filesystem;

void write_weight_histograms(const RunDir& run_dir, int64_t epoch, torch::nn::Module& network) {
  torch::NoGradGuard no_grad;
  auto layers = nlohmann::json::array();
  for (const auto& item : network.named_parameters()) {
    const Histogram h = make_histogram(item.value().detach(), kWeightHistogramBins);
    layers.push_back({{"name", item.key()}, {"lo", h.lo}, {"hi", h.hi}, {"counts", h.counts}});
  }
  fs::create_directories(run_dir.weights());
  const nlohmann::json doc = {{"epoch", epoch}, {"layers", layers}};
  write_file_atomically(run_dir.weight_histograms(epoch), doc.dump() + "\n");
}

nlohmann::json read_weight_histograms(const RunDir& run_dir, int64_t epochs) {
  auto all = nlohmann::json::array();
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    const fs::path path = run_dir.weight_histograms(epoch);
    if (!fs::exists(path)) continue;
    std::ifstream in(path);
    auto doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("layers") ||
        !doc["layers"].is_array()) {
      throw DataFormatError(fmt::format(
          "{}: not a weight histogram file (expected JSON with \"layers\")", path.string()));
    }
    doc["epoch"] = epoch;
    all.push_back(std::move(doc));
  }
  return all;
}

}  // namespace cnnlab
