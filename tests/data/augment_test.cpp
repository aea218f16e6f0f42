#include "cnnlab/data/augment.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>

#include "cnnlab/error.h"

namespace cnnlab {
namespace {

// One channel, h x w, zero except a 1 at (row, col).
torch::Tensor dot(int64_t h, int64_t w, int64_t row, int64_t col) {
  auto x = torch::zeros({1, 1, h, w});
  x[0][0][row][col] = 1.0f;
  return x;
}

// Where the single brightest pixel of a one-image batch is, as (row, col).
std::pair<int64_t, int64_t> brightest(const torch::Tensor& x) {
  const int64_t w = x.size(3);
  const int64_t flat = x[0][0].flatten().argmax().item<int64_t>();
  return {flat / w, flat % w};
}

AugmentParams one(const std::function<void(AugmentParams&)>& set) {
  AugmentParams p = AugmentParams::identity(1);
  set(p);
  return p;
}

AugmentOptions affine_on() { return AugmentOptions().rotation_range(1); }

at::Generator generator(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

float at(const torch::Tensor& x, int64_t r, int64_t c) { return x[0][0][r][c].item<float>(); }

TEST(AugmentTest, RotationByNinetyDegreesMovesAKnownPixel) {
  // Keras, in (x, y) = (column, row): the output at (x, y) takes the input at
  // (o + cos·(x−o) − sin·(y−o), o + sin·(x−o) + cos·(y−o)); with θ = 90° and o = 2,
  // output(row r, col c) = input(row c, col 4 − r), so input (0, 1) lands at (3, 0).
  const auto p = one([](AugmentParams& p) { p.theta.fill_(90.0); });
  const auto out = apply_augmentation(dot(5, 5, 0, 1), p, affine_on());
  EXPECT_EQ(brightest(out), (std::pair<int64_t, int64_t>{3, 0}));
  EXPECT_NEAR(at(out, 3, 0), 1.0f, 1e-5);
  EXPECT_NEAR(out.sum().item<float>(), 1.0f, 1e-5);
}

TEST(AugmentTest, ShiftOfThreePixelsMovesContentExactly) {
  // As in Keras 2, tx shifts columns and ty rows: output(r, c) = input(r + ty, c + tx).
  const auto p = one([](AugmentParams& p) {
    p.tx.fill_(3.0);
    p.ty.fill_(-3.0);
  });
  const auto out = apply_augmentation(dot(9, 9, 2, 5), p, affine_on());
  EXPECT_EQ(brightest(out), (std::pair<int64_t, int64_t>{5, 2}));
  EXPECT_NEAR(at(out, 5, 2), 1.0f, 1e-5);
}

TEST(AugmentTest, ZoomOfTwoMagnifiesAboutTheCentre) {
  // A zoom factor of 0.5 samples half the area: output(r, c) = input(4 + (r−4)/2, 4 + (c−4)/2).
  const auto p = one([](AugmentParams& p) {
    p.zx.fill_(0.5);
    p.zy.fill_(0.5);
  });
  const auto out = apply_augmentation(dot(9, 9, 3, 3), p, affine_on());
  EXPECT_NEAR(at(out, 2, 2), 1.0f, 1e-5);            // exactly on the source pixel
  EXPECT_NEAR(at(out, 3, 3), 0.25f, 1e-5);           // halfway on both axes: bilinear quarter
  EXPECT_NEAR(at(out, 4, 4), 0.0f, 1e-5);            // the centre stays where it is
  EXPECT_NEAR(out.sum().item<float>(), 4.0f, 1e-4);  // one pixel spread over 2x2 the area
}

TEST(AugmentTest, ZoomIsDrawnPerAxis) {
  const auto options = AugmentOptions().zoom_range(0.2);
  const auto p = draw_augment_params(options, 1000, 32, 32, generator(3));
  EXPECT_GT((p.zx - p.zy).abs().max().item<double>(), 0.1);
  EXPECT_GE(p.zx.min().item<double>(), 0.8);
  EXPECT_LE(p.zx.max().item<double>(), 1.2);
  EXPECT_GE(p.zy.min().item<double>(), 0.8);
  EXPECT_LE(p.zy.max().item<double>(), 1.2);
}

TEST(AugmentTest, ShearIsAnAngleInDegrees) {
  // Keras' shear matrix [[1, −sin s], [0, cos s]] in (x, y) = (column, row): on a ramp image
  // whose value is the column index, output(r, c) = c − sin(s)·(r − o); on one whose value is
  // the row index, output(r, c) = o + cos(s)·(r − o). Bilinear interpolation of a ramp is exact.
  const int64_t n = 9;
  const double o = 4, s = 30.0 * M_PI / 180.0;
  const auto ramp = torch::arange(n, torch::kFloat32);
  const auto by_col = ramp.view({1, 1, 1, n}).expand({1, 1, n, n}).contiguous();
  const auto by_row = ramp.view({1, 1, n, 1}).expand({1, 1, n, n}).contiguous();
  const auto p = one([](AugmentParams& p) { p.shear.fill_(30.0); });
  const auto out_col = apply_augmentation(by_col, p, affine_on());
  const auto out_row = apply_augmentation(by_row, p, affine_on());
  for (int64_t r = 2; r <= 6; ++r) {
    for (int64_t c = 3; c <= 5; ++c) {
      EXPECT_NEAR(at(out_col, r, c), c - std::sin(s) * (r - o), 1e-4) << r << "," << c;
      EXPECT_NEAR(at(out_row, r, c), o + std::cos(s) * (r - o), 1e-4) << r << "," << c;
    }
  }
}

TEST(AugmentTest, FlipsMirror) {
  const auto x = torch::arange(12, torch::kFloat32).view({1, 1, 3, 4});
  auto p = AugmentParams::identity(1);
  p.flip_horizontal.fill_(true);
  const auto options = AugmentOptions().horizontal_flip(true);
  EXPECT_TRUE(torch::equal(apply_augmentation(x, p, options), x.flip({3})));
  p = AugmentParams::identity(1);
  p.flip_vertical.fill_(true);
  EXPECT_TRUE(
      torch::equal(apply_augmentation(x, p, AugmentOptions().vertical_flip(true)), x.flip({2})));
}

TEST(AugmentTest, FlipsHalfTheBatch) {
  const auto p =
      draw_augment_params(AugmentOptions().horizontal_flip(true), 2000, 8, 8, generator(1));
  const double flipped = p.flip_horizontal.to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(flipped, 0.5, 0.05);
  EXPECT_FALSE(p.flip_vertical.any().item<bool>());
}

// Image whose rows hold 1, 2, …, h (every column alike), shifted up by 3 rows.
torch::Tensor shifted_rows(FillMode mode, double cval = 0) {
  const int64_t h = 6;
  const auto x = torch::arange(1, h + 1, torch::kFloat32).view({1, 1, h, 1}).expand({1, 1, h, 2});
  const auto p = one([](AugmentParams& p) { p.ty.fill_(3.0); });  // ty moves rows
  return apply_augmentation(x.contiguous(), p, affine_on().fill_mode(mode).cval(cval));
}

// The first column of a one-image batch, compared to `expected` up to float rounding.
void expect_first_column(const torch::Tensor& x, const std::vector<float>& expected) {
  const auto col = x[0][0].select(1, 0).contiguous();
  ASSERT_EQ(col.numel(), static_cast<int64_t>(expected.size()));
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(col[static_cast<int64_t>(i)].item<float>(), expected[i], 1e-4) << "row " << i;
  }
}

TEST(AugmentTest, FillModeNearestRepeatsTheEdge) {
  expect_first_column(shifted_rows(FillMode::kNearest), {4, 5, 6, 6, 6, 6});
}

TEST(AugmentTest, FillModeConstantUsesCval) {
  expect_first_column(shifted_rows(FillMode::kConstant, 0.5), {4, 5, 6, 0.5, 0.5, 0.5});
}

TEST(AugmentTest, FillModeReflectMirrorsAboutTheEdge) {
  // abcdef | fed…
  expect_first_column(shifted_rows(FillMode::kReflect), {4, 5, 6, 6, 5, 4});
}

TEST(AugmentTest, FillModeWrapTiles) {
  // abcdef | abc…
  expect_first_column(shifted_rows(FillMode::kWrap), {4, 5, 6, 1, 2, 3});
}

TEST(AugmentTest, WrapInterpolatesAcrossTheSeam) {
  const auto x = torch::arange(1, 5, torch::kFloat32).view({1, 1, 4, 1}).expand({1, 1, 4, 1});
  const auto p = one([](AugmentParams& p) { p.ty.fill_(0.5); });
  const auto out = apply_augmentation(x.contiguous(), p, affine_on().fill_mode(FillMode::kWrap));
  // Row 3 samples between the last row (4) and the first (1).
  EXPECT_NEAR(at(out, 3, 0), 2.5f, 1e-5);
  EXPECT_NEAR(at(out, 0, 0), 1.5f, 1e-5);
}

TEST(AugmentTest, SameSeedSameBatch) {
  const auto options = AugmentOptions()
                           .rotation_range(15)
                           .width_shift_range(0.1)
                           .height_shift_range(0.1)
                           .shear_range(0.2)
                           .zoom_range(0.2)
                           .horizontal_flip(true)
                           .cutout(4);
  const auto images = torch::rand({16, 3, 32, 32}, generator(0));
  const auto a = augment_batch(images, options, generator(42));
  const auto b = augment_batch(images, options, generator(42));
  const auto c = augment_batch(images, options, generator(43));
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  EXPECT_FALSE(torch::equal(a, images));
}

TEST(AugmentTest, ZeroParametersLeaveImagesUnchanged) {
  const auto images = torch::rand({8, 3, 10, 12}, generator(0));
  AugmentOptions none;
  EXPECT_FALSE(none.enabled());
  EXPECT_TRUE(torch::equal(augment_batch(images, none, generator(1)), images));
  // The identity transform through the affine path is exact too.
  const auto out = apply_augmentation(images, AugmentParams::identity(8), affine_on());
  EXPECT_TRUE(torch::allclose(out, images, 0, 1e-6));
}

TEST(AugmentTest, ShiftRangeBelowOneIsAFractionAboveOnePixels) {
  auto p = draw_augment_params(AugmentOptions().width_shift_range(0.1), 2000, 20, 40, generator(5));
  EXPECT_LE(p.ty.abs().max().item<double>(), 4.0);
  EXPECT_GT(p.ty.abs().max().item<double>(), 3.8);
  EXPECT_EQ(p.tx.abs().max().item<double>(), 0.0);
  p = draw_augment_params(AugmentOptions().height_shift_range(2), 2000, 20, 40, generator(5));
  EXPECT_LE(p.tx.abs().max().item<double>(), 2.0);
  EXPECT_GT(p.tx.abs().max().item<double>(), 1.9);
}

TEST(AugmentTest, CutoutBlanksASquare) {
  const auto images = torch::ones({1, 2, 10, 10});
  auto p = AugmentParams::identity(1);
  p.cutout_row.fill_(5);
  p.cutout_col.fill_(0);  // clipped at the left border
  const auto out = apply_augmentation(images, p, AugmentOptions().cutout(4));
  // Rows 3..6, columns 0..1 (the square spans −2..1).
  EXPECT_NEAR(out.sum().item<float>(), 2 * (100 - 8), 1e-4);
  EXPECT_EQ(at(out, 3, 0), 0.0f);
  EXPECT_EQ(at(out, 6, 1), 0.0f);
  EXPECT_EQ(at(out, 2, 0), 1.0f);
  EXPECT_EQ(at(out, 3, 2), 1.0f);
}

TEST(AugmentTest, CropPaddingShiftsByWholePixels) {
  const auto p = draw_augment_params(AugmentOptions().crop_padding(4), 500, 32, 32, generator(2));
  EXPECT_TRUE(torch::equal(p.tx, p.tx.round()));
  EXPECT_EQ(p.tx.max().item<double>(), 4.0);
  EXPECT_EQ(p.ty.min().item<double>(), -4.0);
}

TEST(AugmentTest, AlternatingFlipsMirrorEachImageInEveryOtherEpoch) {
  const auto index = torch::arange(0, 400, torch::kInt64);
  const auto first = alternating_flips(index, 0, 7);
  // A fixed coin per image: about half start mirrored, the same every time asked.
  const double share = first.to(torch::kFloat64).mean().item<double>();
  EXPECT_GT(share, 0.4);
  EXPECT_LT(share, 0.6);
  EXPECT_TRUE(torch::equal(first, alternating_flips(index, 2, 7)));
  EXPECT_TRUE(torch::equal(alternating_flips(index, 1, 7), first.logical_not()));
  // Images keep their coin in any batch, in any order.
  const auto some = torch::tensor({399, 3, 250}, torch::kInt64);
  EXPECT_TRUE(
      torch::equal(alternating_flips(some, 5, 7), first.index_select(0, some).logical_not()));
  EXPECT_FALSE(torch::equal(alternating_flips(index, 0, 8), first));
}

TEST(AugmentTest, RejectsOutOfRangeOptions) {
  try {
    validate(AugmentOptions().zoom_range(1.5));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("augment.zoom_range"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("1.5"), std::string::npos) << e.what();
  }
  EXPECT_THROW(validate(AugmentOptions().rotation_range(-1)), ConfigError);
  EXPECT_THROW(validate(AugmentOptions().cutout(-1)), ConfigError);
  EXPECT_THROW(parse_fill_mode("mirror", "augment.fill_mode"), ConfigError);
}

}  // namespace
}  // namespace cnnlab
