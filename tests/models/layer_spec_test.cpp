#include "cnnlab/models/layer_spec.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "cnnlab/error.h"

namespace cnnlab {
namespace {

LayerSpec conv(const std::string& name, int64_t filters, int64_t kernel, int64_t stride = 1,
               Padding padding = Padding::kValid) {
  LayerSpec l;
  l.type = LayerType::kConv2d;
  l.name = name;
  l.filters = filters;
  l.kernel = {kernel, kernel};
  l.stride = {stride, stride};
  l.padding = padding;
  return l;
}

LayerSpec simple(LayerType type, const std::string& name, int64_t units = 0) {
  LayerSpec l;
  l.type = type;
  l.name = name;
  l.units = units;
  l.kernel = {2, 2};
  l.stride = {2, 2};
  return l;
}

ModelSpec study_mnist() {
  ModelSpec spec;
  spec.layers = {conv("Conv1", 32, 3),
                 simple(LayerType::kMaxPool, "Pool1"),
                 conv("Conv2", 64, 3),
                 simple(LayerType::kMaxPool, "Pool2"),
                 simple(LayerType::kFlatten, "Flatten"),
                 simple(LayerType::kDense, "Dense", 128),
                 simple(LayerType::kDense, "Output", 10)};
  return spec;
}

TEST(FingerprintTest, FlattenOrderIsPartOfTheArchitecture) {
  ModelSpec torch_order = study_mnist(), keras_order = study_mnist();
  keras_order.layers[4].data_format = DataFormat::kChannelsLast;
  // A Dense layer's weights mean other things after the other order: a checkpoint of one model
  // does not load into the other. The default order's fingerprint is that of older runs.
  EXPECT_NE(architecture_fingerprint(torch_order), architecture_fingerprint(keras_order));
  EXPECT_EQ(architecture_fingerprint(torch_order).find("channels"), std::string::npos);
}

TEST(LayerNamesTest, FollowTheStudy) {
  using T = LayerType;
  EXPECT_EQ(
      default_layer_names(
          {T::kConv2d, T::kMaxPool, T::kConv2d, T::kMaxPool, T::kFlatten, T::kDense, T::kDense}),
      (std::vector<std::string>{"Conv1", "Pool1", "Conv2", "Pool2", "Flatten", "Dense", "Output"}));
  EXPECT_EQ(default_layer_names({T::kFlatten, T::kDense, T::kDense, T::kDense}),
            (std::vector<std::string>{"Flatten", "Dense1", "Dense2", "Output"}));
}

TEST(InferShapesTest, StudyMnistModel) {
  const auto shapes = infer_shapes(study_mnist());
  EXPECT_EQ(shapes[0].output, (std::vector<int64_t>{32, 26, 26}));
  EXPECT_EQ(shapes[0].params, 320);
  EXPECT_EQ(shapes[2].output, (std::vector<int64_t>{64, 11, 11}));
  EXPECT_EQ(shapes[2].params, 18496);
  EXPECT_EQ(shapes[4].output, (std::vector<int64_t>{1600}));
  EXPECT_EQ(shapes[5].params, 1600 * 128 + 128);
  EXPECT_EQ(shapes[6].params, 1290);
}

TEST(InferShapesTest, GlobalPoolingLeavesOneNumberPerChannel) {
  using T = LayerType;
  EXPECT_EQ(default_layer_names({T::kConv2d, T::kGlobalAvgPool, T::kDense}),
            (std::vector<std::string>{"Conv1", "GlobalPool", "Output"}));
  for (const LayerType type : {T::kGlobalAvgPool, T::kGlobalMaxPool}) {
    ModelSpec spec;
    spec.layers = {conv("Conv1", 24, 3), simple(type, "GlobalPool"),
                   simple(T::kDense, "Output", 10)};
    const auto shapes = infer_shapes(spec);
    EXPECT_EQ(shapes[1].output, (std::vector<int64_t>{24}));
    EXPECT_EQ(shapes[1].params, 0);
    EXPECT_EQ(shapes[2].params, 24 * 10 + 10);
    // After a flatten there are no maps left to pool.
    spec.layers.insert(spec.layers.begin() + 1, simple(T::kFlatten, "Flatten"));
    try {
      infer_shapes(spec);
      FAIL() << layer_type_name(type);
    } catch (const ConfigError& e) {
      EXPECT_STREQ(e.what(),
                   "model.layers[2] (GlobalPool): expected a [channels, height, width] input, "
                   "found 16224 (after a flatten or dense layer)");
    }
  }
  EXPECT_EQ(parse_layer_type("global_avgpool", "x"), T::kGlobalAvgPool);
  EXPECT_EQ(parse_layer_type("global_maxpool", "x"), T::kGlobalMaxPool);
  EXPECT_STREQ(layer_keras_name(T::kGlobalAvgPool), "GlobalAveragePooling2D");
}

TEST(InferShapesTest, SamePaddingFollowsTensorFlow) {
  ModelSpec spec;
  spec.layers = {conv("Conv1", 4, 3, 2, Padding::kSame), simple(LayerType::kFlatten, "Flatten"),
                 simple(LayerType::kDense, "Output", 10)};
  const auto shapes = infer_shapes(spec);
  // ceil(28 / 2) = 14; total padding (14-1)·2 + 3 - 28 = 1, the odd pixel on the right/bottom.
  EXPECT_EQ(shapes[0].output, (std::vector<int64_t>{4, 14, 14}));
  EXPECT_EQ(shapes[0].pad, (std::array<int64_t, 4>{0, 1, 0, 1}));
}

TEST(InferShapesTest, KernelLargerThanInputNamesTheLayer) {
  ModelSpec spec = study_mnist();
  spec.layers[2].kernel = {15, 15};
  try {
    infer_shapes(spec);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "model.layers[2] (Conv2): kernel 15x15 is larger than its input 13x13");
  }
}

// Sizes from a hostile or mistyped config are bounded before anything is multiplied.
TEST(InferShapesTest, HugeLayersAreRefusedWithoutOverflow) {
  ModelSpec spec = study_mnist();
  spec.layers[0].filters = INT64_MAX;
  try {
    infer_shapes(spec);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers[0] (Conv1): 9223372036854775807 is more "
                                         "than the 65536"),
              std::string::npos)
        << e.what();
  }
  // Each size allowed, their product not: 60000 x 60000 x 3 x 3 parameters in Conv2.
  spec = study_mnist();
  spec.layers[2].filters = 60000;
  spec.layers[0].filters = 60000;
  try {
    infer_shapes(spec);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers[2] (Conv2): the layer would have more "
                                         "than 4294967296 parameters"),
              std::string::npos)
        << e.what();
  }
}

TEST(InferShapesTest, DenseAfterConvNeedsFlatten) {
  ModelSpec spec = study_mnist();
  spec.layers.erase(spec.layers.begin() + 4);
  EXPECT_THROW(infer_shapes(spec), ConfigError);
}

TEST(InferShapesTest, OutputMustMatchClasses) {
  ModelSpec spec = study_mnist();
  spec.num_classes = 7;
  try {
    infer_shapes(spec);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("has 10 units, but the dataset has 7 classes"),
              std::string::npos);
  }
}

TEST(InferShapesTest, LastDenseWithoutUnitsTakesClassCount) {
  ModelSpec spec = study_mnist();
  spec.layers.back().units = 0;
  spec.num_classes = 3;
  EXPECT_EQ(infer_shapes(spec).back().output, (std::vector<int64_t>{3}));
}

TEST(InferShapesTest, DuplicateNamesAreRejected) {
  ModelSpec spec = study_mnist();
  spec.layers[2].name = "Conv1";
  EXPECT_THROW(infer_shapes(spec), ConfigError);
}

TEST(ParseTest, UnknownValuesListTheAcceptedOnes) {
  try {
    parse_activation("rleu", "model.layers[0].activation");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown activation 'rleu': expected one of linear, relu"),
              std::string::npos);
  }
  EXPECT_EQ(parse_layer_type("maxpool", "x"), LayerType::kMaxPool);
  EXPECT_THROW(parse_padding("full", "x"), ConfigError);
}

}  // namespace
}  // namespace cnnlab
