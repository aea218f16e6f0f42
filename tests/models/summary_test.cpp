#include "cnnlab/models/summary.h"

#include <gtest/gtest.h>

#include "cnnlab/config/run_config.h"

namespace cnnlab {
namespace {

TEST(SummaryTest, ListsLayersShapesAndTotals) {
  const RunConfig config = parse_config(R"(
name = "tiny"
[[model.layers]]
type = "conv2d"
filters = 32
kernel = 3
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
units = 10
)",
                                        "tiny.toml");
  const std::string text = model_summary(config.model, "tiny");
  EXPECT_NE(text.find("Model: \"tiny\""), std::string::npos);
  EXPECT_NE(text.find("Conv1 (Conv2D)"), std::string::npos);
  EXPECT_NE(text.find("(None, 26, 26, 32)"), std::string::npos);  // channels last, as Keras
  EXPECT_EQ(text.find("InputLayer"), std::string::npos);
  EXPECT_NE(text.find("Output (Dense)"), std::string::npos);
  // 32·9 + 32 = 320 and 21632·10 + 10 = 216,330.
  // Four bytes each: 866,600 bytes = 846.29 KB.
  EXPECT_NE(text.find("Total params: 216650 (846.29 KB)"), std::string::npos) << text;
  EXPECT_NE(text.find("Non-trainable params: 0 (0.00 Byte)"), std::string::npos);
}

TEST(SummaryTest, LongNamesContinueOnTheNextLineAsInKeras) {
  const RunConfig config = parse_config(R"(
[[model.layers]]
type = "conv2d"
filters = 8
[[model.layers]]
type = "batchnorm"
name = "AVeryLongBatchNormName"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
)",
                                        "long.toml");
  ModelSpec spec = config.model;
  spec.num_classes = 10;
  const std::string text = model_summary(spec, "long");
  // The name column holds 26 characters; the rest follows on a line of its own.
  EXPECT_NE(text.find(" AVeryLongBatchNormName (Ba  (None, 26, 26, 8)         32        \n"
                      " tchNormalization)                                               \n"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace cnnlab
