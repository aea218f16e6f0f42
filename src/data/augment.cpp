#include "cnnlab/data/augment.h"

#include <fmt/format.h>

#include <cmath>

#include "cnnlab/error.h"

namespace cnnlab {

namespace F = torch::nn::functional;

namespace {

constexpr double kPi = 3.14159265358979323846;

// Uniform in [-range, range], float64.
torch::Tensor symmetric_uniform(int64_t n, double range, at::Generator& generator) {
  return torch::rand({n}, generator, torch::kFloat64).mul_(2.0).sub_(1.0).mul_(range);
}

torch::Tensor coin(int64_t n, at::Generator& generator) {
  return torch::rand({n}, generator, torch::kFloat64).lt(0.5);
}

// Keras reads a shift range below 1 as a fraction of the side, from 1 up as pixels.
double shift_pixels(double range, int64_t side) {
  return range < 1.0 ? range * static_cast<double>(side) : range;
}

// Pixel coordinate → grid_sample's [-1, 1] coordinate with align_corners = false.
torch::Tensor to_grid_coordinate(const torch::Tensor& pixel, int64_t size) {
  return pixel.mul(2.0).add_(1.0).div_(static_cast<double>(size)).sub_(1.0);
}

torch::Tensor affine_transform(const torch::Tensor& images, const AugmentParams& p,
                               const AugmentOptions& options) {
  const int64_t h = images.size(2), w = images.size(3);
  const auto theta = p.theta * (kPi / 180.0);
  const auto shear = p.shear * (kPi / 180.0);
  const auto cos_t = theta.cos(), sin_t = theta.sin();
  // Keras' matrix M = Rotation · Shift · Shear · Zoom acts on (x, y) = (column, row), with
  // R = [[cos, -sin], [sin, cos]], Shear = [[1, -sin s], [0, cos s]], Zoom = diag(zx, zy): so
  // A = R · Shear · Zoom, b = R · (tx, ty), and tx moves columns. Keras offsets M to the centre
  // ((h − 1)/2, (w − 1)/2) in that (x, y) order; on a non-square image it turns about that
  // point, and so does cnnlab.
  const auto sh_01 = -shear.sin(), sh_11 = shear.cos();
  const auto a00 = cos_t * p.zx;
  const auto a01 = (cos_t * sh_01 - sin_t * sh_11) * p.zy;
  const auto a10 = sin_t * p.zx;
  const auto a11 = (sin_t * sh_01 + cos_t * sh_11) * p.zy;
  const auto b0 = cos_t * p.tx - sin_t * p.ty;
  const auto b1 = sin_t * p.tx + cos_t * p.ty;

  const double o_x = (static_cast<double>(h) - 1.0) / 2.0;
  const double o_y = (static_cast<double>(w) - 1.0) / 2.0;
  // The per-image matrices are computed in float64, the per-pixel grid in float32 (its rounding
  // is far below a pixel at any image size, and it halves the memory traffic).
  // The parameters are drawn on the CPU; one copy takes the coefficients to the images' device.
  const auto coefficients = torch::stack({a00, a01, b0 + o_x, a10, a11, b1 + o_y}, 1)
                                .to(torch::kFloat32)
                                .to(images.device(), /*non_blocking=*/true);
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(images.device());
  const auto x = torch::arange(w, f32).sub_(o_x).view({1, 1, w});  // columns
  const auto y = torch::arange(h, f32).sub_(o_y).view({1, h, 1});  // rows
  auto col_of = [&](int64_t k) { return coefficients.select(1, k).view({-1, 1, 1}); };
  auto in_c = col_of(0) * x + col_of(1) * y + col_of(2);  // [N, H, W]
  auto in_r = col_of(3) * x + col_of(4) * y + col_of(5);

  torch::Tensor source = images;
  int64_t grid_h = h, grid_w = w;
  F::GridSampleFuncOptions::padding_mode_t padding = torch::kBorder;
  double offset = 0.0;
  switch (options.fill_mode()) {
    case FillMode::kNearest:
      padding = torch::kBorder;  // clamps coordinates to the edge pixels
      break;
    case FillMode::kReflect:
      padding = torch::kReflection;  // with align_corners = false: about the outer pixel edges
      break;
    case FillMode::kConstant:
      padding = torch::kZeros;
      offset = options.cval();  // sample (x - cval) with zeros outside, then add cval back
      source = images - offset;
      break;
    case FillMode::kWrap:
      // Wrap coordinates into [0, size), and append the first row / column after the last so that
      // interpolation across the seam sees the neighbour it wraps to.
      in_r = in_r - (in_r / static_cast<double>(h)).floor_() * static_cast<double>(h);
      in_c = in_c - (in_c / static_cast<double>(w)).floor_() * static_cast<double>(w);
      source = F::pad(images, F::PadFuncOptions({0, 1, 0, 1}).mode(torch::kCircular));
      grid_h = h + 1;
      grid_w = w + 1;
      padding = torch::kBorder;
      break;
  }
  const auto grid =
      torch::stack({to_grid_coordinate(in_c, grid_w), to_grid_coordinate(in_r, grid_h)}, -1)
          .to(images.scalar_type());
  auto out = F::grid_sample(
      source, grid,
      F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(padding).align_corners(false));
  if (offset != 0.0) out.add_(offset);
  return out;
}

torch::Tensor flip_where(const torch::Tensor& x, const torch::Tensor& mask, int64_t dim) {
  // The mask is drawn on the CPU, so asking whether any image flips waits for nothing.
  if (!mask.any().item<bool>()) return x;
  return torch::where(mask.to(x.device(), /*non_blocking=*/true).view({-1, 1, 1, 1}), x.flip({dim}),
                      x);
}

torch::Tensor apply_cutout(const torch::Tensor& x, const AugmentParams& p, int64_t side,
                           double value) {
  const int64_t h = x.size(2), w = x.size(3);
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(x.device());
  const auto lo_r =
      (p.cutout_row - side / 2).to(x.device(), /*non_blocking=*/true).view({-1, 1, 1});
  const auto lo_c =
      (p.cutout_col - side / 2).to(x.device(), /*non_blocking=*/true).view({-1, 1, 1});
  const auto r = torch::arange(h, i64).view({1, h, 1});
  const auto c = torch::arange(w, i64).view({1, 1, w});
  const auto mask =
      ((r >= lo_r) & (r < lo_r + side) & (c >= lo_c) & (c < lo_c + side)).unsqueeze(1);
  return x.masked_fill(mask, value);
}

}  // namespace

FillMode parse_fill_mode(const std::string& name, const std::string& where) {
  if (name == "nearest") return FillMode::kNearest;
  if (name == "constant") return FillMode::kConstant;
  if (name == "reflect") return FillMode::kReflect;
  if (name == "wrap") return FillMode::kWrap;
  throw ConfigError(fmt::format(
      "{}: unknown fill mode '{}': expected nearest, constant, reflect or wrap", where, name));
}

const char* fill_mode_name(FillMode mode) {
  switch (mode) {
    case FillMode::kNearest:
      return "nearest";
    case FillMode::kConstant:
      return "constant";
    case FillMode::kReflect:
      return "reflect";
    case FillMode::kWrap:
      return "wrap";
  }
  return "nearest";
}

bool AugmentOptions::has_affine() const {
  return rotation_range() != 0 || width_shift_range() != 0 || height_shift_range() != 0 ||
         shear_range() != 0 || zoom_range() != 0 || crop_padding() != 0;
}

bool AugmentOptions::enabled() const {
  return has_affine() || horizontal_flip() || vertical_flip() || cutout() != 0;
}

void validate(const AugmentOptions& o) {
  auto check = [](bool ok, const char* option, const std::string& expected, double found) {
    if (!ok) {
      throw ConfigError(fmt::format("augment.{}: expected {}, found {}", option, expected, found));
    }
  };
  check(o.rotation_range() >= 0 && o.rotation_range() <= 180, "rotation_range",
        "degrees in [0, 180]", o.rotation_range());
  check(o.width_shift_range() >= 0, "width_shift_range", "a value ≥ 0", o.width_shift_range());
  check(o.height_shift_range() >= 0, "height_shift_range", "a value ≥ 0", o.height_shift_range());
  check(o.shear_range() >= 0 && o.shear_range() < 90, "shear_range", "degrees in [0, 90)",
        o.shear_range());
  check(o.zoom_range() >= 0 && o.zoom_range() < 1, "zoom_range", "a value in [0, 1)",
        o.zoom_range());
  check(std::isfinite(o.cval()), "cval", "a finite number", o.cval());
  check(o.crop_padding() >= 0, "crop_padding", "pixels ≥ 0", static_cast<double>(o.crop_padding()));
  check(o.cutout() >= 0, "cutout", "pixels ≥ 0", static_cast<double>(o.cutout()));
  if (o.alternating_flip() && !o.horizontal_flip()) {
    throw ConfigError(
        "augment.alternating_flip: alternates horizontal flips, and horizontal_flip is false: "
        "set horizontal_flip = true too");
  }
}

torch::Tensor alternating_flips(const torch::Tensor& index, int64_t epoch, uint64_t seed) {
  const auto indices = index.to(torch::kCPU, torch::kInt64).contiguous();
  auto flips = torch::empty({indices.size(0)}, torch::kBool);
  const int64_t* in = indices.data_ptr<int64_t>();
  bool* out = flips.data_ptr<bool>();
  for (int64_t i = 0; i < indices.size(0); ++i) {
    // SplitMix64's finaliser of (seed, image): a fixed coin per image, flipped every epoch.
    uint64_t z =
        seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(in[i]) + 0x632BE59BD9B4E019ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    out[i] = ((z & 1) != 0) != (epoch % 2 == 1);
  }
  return flips;
}

AugmentParams AugmentParams::identity(int64_t n) {
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  AugmentParams p;
  p.theta = torch::zeros({n}, f64);
  p.tx = torch::zeros({n}, f64);
  p.ty = torch::zeros({n}, f64);
  p.shear = torch::zeros({n}, f64);
  p.zx = torch::ones({n}, f64);
  p.zy = torch::ones({n}, f64);
  p.flip_horizontal = torch::zeros({n}, torch::kBool);
  p.flip_vertical = torch::zeros({n}, torch::kBool);
  p.cutout_row = torch::zeros({n}, torch::kInt64);
  p.cutout_col = torch::zeros({n}, torch::kInt64);
  return p;
}

AugmentParams draw_augment_params(const AugmentOptions& o, int64_t n, int64_t h, int64_t w,
                                  at::Generator generator) {
  AugmentParams p = AugmentParams::identity(n);
  if (o.rotation_range() > 0) p.theta = symmetric_uniform(n, o.rotation_range(), generator);
  if (o.height_shift_range() > 0) {
    p.tx = symmetric_uniform(n, shift_pixels(o.height_shift_range(), h), generator);
  }
  if (o.width_shift_range() > 0) {
    p.ty = symmetric_uniform(n, shift_pixels(o.width_shift_range(), w), generator);
  }
  if (o.crop_padding() > 0) {
    const int64_t pad = o.crop_padding();
    p.tx = p.tx + torch::randint(-pad, pad + 1, {n}, generator, torch::kInt64).to(torch::kFloat64);
    p.ty = p.ty + torch::randint(-pad, pad + 1, {n}, generator, torch::kInt64).to(torch::kFloat64);
  }
  if (o.shear_range() > 0) p.shear = symmetric_uniform(n, o.shear_range(), generator);
  if (o.zoom_range() > 0) {
    p.zx = symmetric_uniform(n, o.zoom_range(), generator).add_(1.0);
    p.zy = symmetric_uniform(n, o.zoom_range(), generator).add_(1.0);
  }
  if (o.horizontal_flip()) p.flip_horizontal = coin(n, generator);
  if (o.vertical_flip()) p.flip_vertical = coin(n, generator);
  if (o.cutout() > 0) {
    p.cutout_row = torch::randint(0, h, {n}, generator, torch::kInt64);
    p.cutout_col = torch::randint(0, w, {n}, generator, torch::kInt64);
  }
  return p;
}

torch::Tensor apply_augmentation(const torch::Tensor& images, const AugmentParams& params,
                                 const AugmentOptions& options) {
  TORCH_CHECK(images.dim() == 4 && images.is_floating_point(),
              "apply_augmentation expects [N, C, H, W] float images, got ", images.sizes(), " ",
              images.scalar_type());
  TORCH_CHECK(params.theta.size(0) == images.size(0), "augmentation parameters for ",
              params.theta.size(0), " images, batch of ", images.size(0));
  torch::NoGradGuard no_grad;
  torch::Tensor x = options.has_affine() ? affine_transform(images, params, options) : images;
  x = flip_where(x, params.flip_horizontal, 3);
  x = flip_where(x, params.flip_vertical, 2);
  if (options.cutout() > 0) x = apply_cutout(x, params, options.cutout(), options.cval());
  return x.is_same(images) ? images.clone() : x;
}

torch::Tensor augment_batch(const torch::Tensor& images, const AugmentOptions& options,
                            at::Generator generator) {
  const auto params =
      draw_augment_params(options, images.size(0), images.size(2), images.size(3), generator);
  return apply_augmentation(images, params, options);
}

}  // namespace cnnlab
