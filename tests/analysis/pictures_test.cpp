#include "cnnlab/analysis/pictures.h"

#include <gtest/gtest.h>

namespace cnnlab {
namespace {

TEST(PicturesTest, StretchMapsMinimumToBlackAndMaximumToWhite) {
  const auto picture = stretch_to_picture(torch::tensor({{-2.0f, 0.0f}, {1.0f, 2.0f}}));
  ASSERT_EQ(picture.sizes(), (std::vector<int64_t>{1, 2, 2}));
  ASSERT_EQ(picture.scalar_type(), torch::kUInt8);
  EXPECT_EQ(picture[0][0][0].item<int>(), 0);
  EXPECT_EQ(picture[0][0][1].item<int>(), 128);  // 2/4 of the way: 127.5 rounds up
  EXPECT_EQ(picture[0][1][0].item<int>(), 191);  // 3/4: 191.25
  EXPECT_EQ(picture[0][1][1].item<int>(), 255);
  EXPECT_TRUE(stretch_to_picture(torch::full({3, 2, 2}, 7.0f)).eq(128).all().item<bool>());
}

TEST(PicturesTest, FiltersOfAnRgbLayerAreColourAndOthersGrey) {
  const auto rgb = filter_pictures(torch::randn({4, 3, 5, 5}));
  ASSERT_EQ(rgb.size(), 4u);
  EXPECT_EQ(rgb[0].sizes(), (std::vector<int64_t>{3, 5, 5}));
  const auto grey = filter_pictures(torch::randn({6, 8, 3, 3}));
  ASSERT_EQ(grey.size(), 6u);
  EXPECT_EQ(grey[5].sizes(), (std::vector<int64_t>{1, 3, 3}));
  // Each filter is stretched on its own: every one reaches both black and white.
  for (const auto& f : grey) {
    EXPECT_EQ(f.min().item<int>(), 0);
    EXPECT_EQ(f.max().item<int>(), 255);
  }
}

TEST(PicturesTest, HeatOverlayKeepsColdPixelsAndPaintsHotOnes) {
  const auto image = torch::full({1, 2, 2}, 100, torch::kUInt8);
  const auto heat = torch::tensor({{0.0f, 1.0f}, {0.0f, 0.0f}});
  const auto out = heat_overlay(image, heat);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{3, 2, 2}));
  // Cold: the image dimmed to 60%, grey. Hot: yellow.
  EXPECT_TRUE(torch::equal(out.select(1, 0).select(1, 0), out.select(1, 1).select(1, 1)));
  EXPECT_EQ(out[0][0][0].item<int>(), 60);
  EXPECT_EQ(out[0][0][1].item<int>(), 255);
  EXPECT_EQ(out[1][0][1].item<int>(), 255);
  EXPECT_EQ(out[2][0][1].item<int>(), 0);
  EXPECT_THROW(heat_overlay(image, torch::zeros({3, 3})), c10::Error);
}

}  // namespace
}  // namespace cnnlab
