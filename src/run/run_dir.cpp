#include "cnnlab/run/run_dir.h"

#include <fmt/format.h>

#include "cnnlab/error.h"

namespace cnnlab {
namespace fs = std::filesystem;

fs::path RunDir::weight_histograms(int64_t epoch) const {
  return weights() / fmt::format("epoch-{:03d}.json", epoch);
}

fs::path RunDir::checkpoint(CheckpointKind kind) const {
  return checkpoints() / (kind == CheckpointKind::kBest ? "best.pt" : "last.pt");
}

fs::path RunDir::checkpoint(const std::string& name) const {
  if (name == "best") return checkpoint(CheckpointKind::kBest);
  if (name == "last") return checkpoint(CheckpointKind::kLast);
  throw ConfigError(fmt::format("--checkpoint: expected best or last, found '{}'", name));
}

bool RunDir::holds_run() const {
  std::error_code ec;
  return fs::is_regular_file(config(), ec);
}

}  // namespace cnnlab
