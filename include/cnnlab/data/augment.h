#pragma once

#include <torch/torch.h>

#include <string>

namespace cnnlab {

/// How pixels that an affine transform pulls in from outside the image are filled, with Keras'
/// names and meanings (for a row `abcd`):
/// - nearest:  aaaa|abcd|dddd (the edge pixel repeats)
/// - constant: kkkk|abcd|kkkk (k = cval)
/// - reflect:  dcba|abcd|dcba (mirrored about the edge, edge pixel included)
/// - wrap:     abcd|abcd|abcd (the image tiles)
enum class FillMode { kNearest, kConstant, kReflect, kWrap };

/// Parses nearest|constant|reflect|wrap; `where` names the option in the ConfigError.
FillMode parse_fill_mode(const std::string& name, const std::string& where);
const char* fill_mode_name(FillMode mode);

/// Random image augmentation with the semantics of Keras' ImageDataGenerator (the `[augment]`
/// table of a config). Every parameter of 0 / false leaves images untouched.
struct AugmentOptions {
  /// Rotation in degrees, uniform in ±rotation_range.
  TORCH_ARG(double, rotation_range) = 0;
  /// Horizontal / vertical shift, uniform in ±range; a value < 1 is a fraction of the image's
  /// width / height, a value ≥ 1 a number of pixels (as Keras reads it).
  TORCH_ARG(double, width_shift_range) = 0;
  TORCH_ARG(double, height_shift_range) = 0;
  /// Shear *angle in degrees*, uniform in ±shear_range (Keras' unit, although its docs once said
  /// "intensity").
  TORCH_ARG(double, shear_range) = 0;
  /// Zoom factors drawn independently for rows and columns, uniform in [1 − z, 1 + z]. As in Keras,
  /// a factor above 1 samples a larger area, so the content looks smaller (zooms out).
  TORCH_ARG(double, zoom_range) = 0;
  /// Mirror left-right / top-bottom, each with probability ½, after the affine transform.
  TORCH_ARG(bool, horizontal_flip) = false;
  /// With horizontal_flip, flips alternate instead of being drawn: each image is mirrored in
  /// every other epoch, starting mirrored or not by a fixed coin of its own (airbench's
  /// alternating flip), so any two epochs in a row show it both ways.
  TORCH_ARG(bool, alternating_flip) = false;
  TORCH_ARG(bool, vertical_flip) = false;
  TORCH_ARG(FillMode, fill_mode) = FillMode::kNearest;
  /// Fill value for fill_mode = constant, in the units of the scaled pixels ([0, 1]).
  TORCH_ARG(double, cval) = 0;
  /// Random crop with padding (beyond Keras): an extra whole-pixel shift uniform in
  /// [−crop_padding, crop_padding] on each axis, the border filled by fill_mode (constant with cval
  /// 0 is the usual zero-padded crop).
  TORCH_ARG(int64_t, crop_padding) = 0;
  /// Cutout (beyond Keras): a square of this side, centred at a uniformly random pixel (clipped
  /// at the border), is set to cval. 0: off.
  TORCH_ARG(int64_t, cutout) = 0;

 public:
  /// True when any parameter is set.
  bool enabled() const;
  /// True when rotation, shift, shear, zoom or crop_padding is set.
  bool has_affine() const;
};

/// Throws ConfigError naming `augment.<option>` when a value is out of range.
void validate(const AugmentOptions& options);

/// One batch's per-image transform parameters, in Keras' conventions (tx, drawn from
/// height_shift_range, moves along columns and ty along rows, as in Keras 2; see
/// apply_augmentation). All [N] tensors, float64 unless stated.
struct AugmentParams {
  torch::Tensor theta;            // rotation, degrees
  torch::Tensor tx;               // shift along columns (x), pixels
  torch::Tensor ty;               // shift along rows (y), pixels
  torch::Tensor shear;            // shear angle, degrees
  torch::Tensor zx;               // zoom factor of rows
  torch::Tensor zy;               // zoom factor of columns
  torch::Tensor flip_horizontal;  // bool
  torch::Tensor flip_vertical;    // bool
  torch::Tensor cutout_row;       // int64 centre of the cutout square
  torch::Tensor cutout_col;       // int64

  /// Parameters that change nothing, for n images.
  static AugmentParams identity(int64_t n);
};

/// Which images of a batch (`index`: their positions in the training set) alternating_flip
/// mirrors in `epoch` (0-based): a fixed coin per image and seed, negated in odd epochs. Bool [n]
/// on the CPU.
torch::Tensor alternating_flips(const torch::Tensor& index, int64_t epoch, uint64_t seed);

/// Draws parameters for a batch of n images of height h and width w from `generator`.
AugmentParams draw_augment_params(const AugmentOptions& options, int64_t n, int64_t h, int64_t w,
                                  at::Generator generator);

/// Applies `params` to images [N, C, H, W] float32 exactly as Keras 2's apply_affine_transform
/// (tf-keras; tests/golden/keras pins it): in (x, y) = (column, row) coordinates, the output pixel
/// at p takes the input at A·(p − o) + R·(tx, ty) + o, interpolated bilinearly, where R is the
/// rotation, A = R · Shear · Zoom and o = ((H − 1)/2, (W − 1)/2) (Keras' order: the centre of a
/// square image); then the flips, then cutout. Returns a new tensor; `images` is unchanged.
torch::Tensor apply_augmentation(const torch::Tensor& images, const AugmentParams& params,
                                 const AugmentOptions& options);

/// draw_augment_params + apply_augmentation. Reproducible: the same generator state gives the same
/// batch.
torch::Tensor augment_batch(const torch::Tensor& images, const AugmentOptions& options,
                            at::Generator generator);

}  // namespace cnnlab
