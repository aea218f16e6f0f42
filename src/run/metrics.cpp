#include "cnnlab/run/metrics.h"

#include <fstream>

#include "cnnlab/error.h"
#include "cnnlab/io/atomic_file.h"

namespace cnnlab {
namespace fs = std::filesystem;

void write_metrics(const RunDir& run_dir, const RunMetrics& metrics) {
  write_file_atomically(run_dir.metrics(), metrics.dump(2) + "\n");
}

RunMetrics read_metrics(const RunDir& run_dir) {
  const fs::path path = run_dir.metrics();
  std::error_code ec;
  if (!fs::exists(path, ec)) return nullptr;
  std::ifstream in(path);
  auto metrics = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (metrics.is_discarded() || !metrics.is_object()) {
    throw DataFormatError(path.string() +
                          ": not a JSON object of metrics (a run writes them when it completes; "
                          "delete the file to let the run finish again)");
  }
  return metrics;
}

}  // namespace cnnlab
