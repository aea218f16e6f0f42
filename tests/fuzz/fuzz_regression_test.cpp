// The fuzz targets' entry points, run by the test suite: the seed corpus is accepted, and every
// input in fuzz/regressions/<target>/ (crashes the fuzzers found, hostile headers) is rejected
// with a cnnlab::Error or accepted, never a crash or another exception.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "cnnlab/error.h"
#include "support/temp_dir.h"
#include "targets.h"

namespace cnnlab {
namespace {
namespace fs = std::filesystem;
using testing::TempDir;

std::vector<std::uint8_t> read_all(const fs::path& path) {
  const std::string bytes = testing::read_file(path);
  return {bytes.begin(), bytes.end()};
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(FuzzTargetTest, SeedCorpusIsAcceptedByEveryTarget) {
  TempDir dir;
  fuzz::write_seed_corpus(dir.path(), fs::path(CNNLAB_SOURCE_DIR) / "configs");
  for (const auto& target : fuzz::targets()) {
    const auto seeds = files_in(dir / target.name);
    EXPECT_GE(seeds.size(), 2u) << target.name;
    for (const auto& seed : seeds) {
      const auto bytes = read_all(seed);
      EXPECT_NO_THROW(target.run(bytes.data(), bytes.size()))
          << target.name << " rejects its seed " << seed.filename();
    }
  }
}

TEST(FuzzTargetTest, UnknownTargetIsNamed) {
  try {
    fuzz::find_target("png");
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()),
              "unknown fuzz target 'png': expected one of idx, cifar10, image, config, checkpoint");
  }
}

TEST(FuzzRegressionTest, EveryRegressionInputIsRejectedCleanly) {
  const fs::path root = fs::path(CNNLAB_SOURCE_DIR) / "fuzz" / "regressions";
  int inputs = 0;
  for (const auto& target : fuzz::targets()) {
    for (const auto& file : files_in(root / target.name)) {
      ++inputs;
      const auto bytes = read_all(file);
      try {
        target.run(bytes.data(), bytes.size());
      } catch (const Error&) {
        // Rejected with a message.
      } catch (const std::exception& e) {
        ADD_FAILURE() << target.name << "/" << file.filename().string()
                      << ": an exception other than cnnlab::Error: " << e.what();
      }
    }
  }
  EXPECT_GE(inputs, 5) << "fuzz/regressions/ holds fewer inputs than expected";
}

}  // namespace
}  // namespace cnnlab
