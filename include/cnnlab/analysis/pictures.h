#pragma once

#include <torch/torch.h>

#include <vector>

namespace cnnlab {

/// Stretches `values` ([C, H, W] or [H, W] float) to the full 0–255 range, its minimum black and
/// its maximum white (a constant input gives mid grey). Returns [C, H, W] uint8 ([1, H, W] for a
/// 2-D input): a picture of a feature map or a filter.
torch::Tensor stretch_to_picture(const torch::Tensor& values);

/// The filters of a conv layer as pictures. kernel: [out, in, kh, kw] float (as LibTorch stores
/// it). Returns `out` pictures [C, kh, kw] uint8, C = 3 for a layer reading RGB images and 1
/// otherwise (a filter of several input channels is shown as the mean over them); each filter is
/// stretched on its own.
std::vector<torch::Tensor> filter_pictures(const torch::Tensor& kernel);

/// Lays `heat` ([H, W] float in [0, 1]) over `image` ([C, H, W] uint8, C = 1 or 3) as a red-yellow
/// heat map whose opacity grows with the heat. Returns [3, H, W] uint8.
torch::Tensor heat_overlay(const torch::Tensor& image, const torch::Tensor& heat);

}  // namespace cnnlab
