#include "cnnlab/config/overrides.h"

#include <gtest/gtest.h>

#include "cnnlab/error.h"

namespace cnnlab {
namespace {

toml::table base() {
  return toml::parse(R"(
[train]
epochs = 5
[[model.layers]]
type = "conv2d"
[[model.layers]]
type = "maxpool"
[[model.layers]]
type = "conv2d"
name = "Wide"
)");
}

TEST(OverrideTest, ParsesValuesAsToml) {
  auto t = base();
  apply_override(t, "train.epochs=3");
  apply_override(t, "train.lr=0.5");
  apply_override(t, "train.nesterov=true");
  apply_override(t, "data.dataset=cifar10");
  EXPECT_EQ(t["train"]["epochs"].value<int64_t>(), 3);
  EXPECT_EQ(t["train"]["lr"].value<double>(), 0.5);
  EXPECT_EQ(t["train"]["nesterov"].value<bool>(), true);
  EXPECT_EQ(t["data"]["dataset"].value<std::string>(), "cifar10");
}

TEST(OverrideTest, AddressesLayersByDefaultNameExplicitNameOrIndex) {
  auto t = base();
  apply_override(t, "model.layers.Conv1.filters=7");
  apply_override(t, "model.layers.Wide.filters=9");
  apply_override(t, "model.layers.1.size=3");
  EXPECT_EQ(t["model"]["layers"][0]["filters"].value<int64_t>(), 7);
  EXPECT_EQ(t["model"]["layers"][2]["filters"].value<int64_t>(), 9);
  EXPECT_EQ(t["model"]["layers"][1]["size"].value<int64_t>(), 3);
}

TEST(OverrideTest, UnknownLayerIsNamed) {
  auto t = base();
  try {
    apply_override(t, "model.layers.Conv9.filters=7");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "--set model.layers.Conv9.filters=7: 'layers' has no element 'Conv9'");
  }
}

TEST(OverrideTest, RequiresKeyAndValue) {
  auto t = base();
  EXPECT_THROW(apply_override(t, "train.epochs"), ConfigError);
  EXPECT_THROW(apply_override(t, "train.epochs.x=1"), ConfigError);
}

}  // namespace
}  // namespace cnnlab
