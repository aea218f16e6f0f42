#include "cnnlab/run/weight_history.h"

#include <gtest/gtest.h>

#include "cnnlab/error.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

using testing::TempDir;

struct Tiny : torch::nn::Module {
  Tiny() { weight = register_parameter("weight", torch::tensor({-1.0f, 0.0f, 0.0f, 1.0f})); }
  torch::Tensor weight;
};

TEST(WeightHistoryTest, WritesEveryEpochAndReadsBackInOrder) {
  TempDir dir;
  Tiny tiny;
  write_weight_histograms(dir.path(), 1, tiny);
  {
    torch::NoGradGuard no_grad;
    tiny.weight.mul_(2);
  }
  write_weight_histograms(dir.path(), 2, tiny);
  write_weight_histograms(dir.path(), 3, tiny);

  const auto kept = read_weight_histograms(dir.path(), 2);  // epoch 3 lies past the history
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0]["epoch"], 1);
  const auto& layer = kept[1]["layers"][0];
  EXPECT_EQ(layer["name"], "weight");
  EXPECT_DOUBLE_EQ(layer["lo"].get<double>(), -2.0);
  EXPECT_DOUBLE_EQ(layer["hi"].get<double>(), 2.0);
  const auto counts = layer["counts"].get<std::vector<int64_t>>();
  ASSERT_EQ(static_cast<int64_t>(counts.size()), kWeightHistogramBins);
  EXPECT_EQ(counts.front(), 1);
  EXPECT_EQ(counts[kWeightHistogramBins / 2], 2);
  EXPECT_EQ(counts.back(), 1);
}

TEST(WeightHistoryTest, NamesAFileThatIsNotAHistogram) {
  TempDir dir;
  std::filesystem::create_directories(dir / "weights");
  testing::write_text(dir / "weights" / "epoch-001.json", "{\"epoch\": 1");
  try {
    read_weight_histograms(dir.path(), 1);
    FAIL() << "expected DataFormatError";
  } catch (const DataFormatError& e) {
    EXPECT_NE(std::string(e.what()).find("epoch-001.json: not a weight histogram file"),
              std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(read_weight_histograms(dir / "none", 3).empty());
}

}  // namespace
}  // namespace cnnlab
