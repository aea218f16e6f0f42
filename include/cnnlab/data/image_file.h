#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>

namespace cnnlab {

/// Decodes a PNG, JPEG, BMP or GIF file and converts it to the network's input format: `channels`
/// (1: luminance, 3: RGB) and `height`×`width` (bilinear, antialiased when shrinking).
/// Returns [channels, height, width] uint8 in [0, 255]. Throws DataFormatError naming the file
/// when it is not a readable image, IoError when it cannot be opened.
torch::Tensor read_image_file(const std::filesystem::path& path, int64_t channels, int64_t height,
                              int64_t width);

/// As read_image_file, for the bytes of an image file in memory; `name` names it in messages.
/// A header that declares more than 2²⁵ pixels is refused before any pixel is allocated.
torch::Tensor decode_image(const std::string& bytes, const std::string& name, int64_t channels,
                           int64_t height, int64_t width);

/// Image files larger than this are refused unread (no picture of 2²⁵ pixels needs more).
constexpr int64_t kMaxImageFileBytes = int64_t{256} << 20;

/// Writes an image as PNG. image: [C, H, W] uint8 with C = 1 or 3.
void write_png(const std::filesystem::path& path, const torch::Tensor& image);

/// The bytes of a PNG file holding `image` ([C, H, W] uint8 with C = 1 or 3), for embedding.
std::string encode_png(const torch::Tensor& image);

}  // namespace cnnlab
