#include "cnnlab/data/image_file.h"

#include <fmt/format.h>
#include <stb_image.h>
#include <stb_image_write.h>

#include <memory>

#include "cnnlab/error.h"
#include "cnnlab/io/atomic_file.h"

namespace cnnlab {
namespace fs = std::filesystem;

namespace {
constexpr int64_t kMaxImagePixels = int64_t{1} << 26;  // 8192 x 8192

// [C, H, W] uint8 → contiguous [H, W, C], the layout stb writes.
torch::Tensor to_hwc(const torch::Tensor& image, const char* caller) {
  TORCH_CHECK(image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3) &&
                  image.scalar_type() == torch::kUInt8,
              caller, " expects [1|3, H, W] uint8, got ", image.sizes());
  return image.permute({1, 2, 0}).contiguous();
}

}  // namespace

torch::Tensor read_image_file(const fs::path& path, int64_t channels, int64_t height,
                              int64_t width) {
  TORCH_CHECK(channels == 1 || channels == 3, "read_image_file: channels must be 1 or 3");
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw IoError(path.string() + ": no such image file");
  }
  int w = 0, h = 0, file_channels = 0;
  // The header's size is checked before any pixel is allocated: a small hostile file must not
  // claim gigabytes.
  if (stbi_info(path.c_str(), &w, &h, &file_channels) != 0 &&
      static_cast<int64_t>(w) * h > kMaxImagePixels) {
    throw DataFormatError(fmt::format("{}: the image claims {}x{} pixels, more than the {} allowed",
                                      path.string(), w, h, kMaxImagePixels));
  }
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load(path.c_str(), &w, &h, &file_channels, static_cast<int>(channels)), stbi_image_free);
  if (!pixels) {
    throw DataFormatError(
        fmt::format("{}: not a readable image (PNG, JPEG, BMP or GIF expected): {}", path.string(),
                    stbi_failure_reason()));
  }
  auto image = torch::from_blob(pixels.get(), {h, w, channels}, torch::kUInt8)
                   .permute({2, 0, 1})
                   .to(torch::kFloat32)
                   .unsqueeze(0);
  if (h != height || w != width) {
    namespace F = torch::nn::functional;
    image = F::interpolate(image, F::InterpolateFuncOptions()
                                      .size(std::vector<int64_t>{height, width})
                                      .mode(torch::kBilinear)
                                      .align_corners(false)
                                      .antialias(height < h || width < w));
  }
  return image.squeeze(0).round_().clamp_(0, 255).to(torch::kUInt8).contiguous();
}

void write_png(const fs::path& path, const torch::Tensor& image) {
  const auto hwc = to_hwc(image, "write_png");
  const int h = static_cast<int>(hwc.size(0)), w = static_cast<int>(hwc.size(1)),
            c = static_cast<int>(hwc.size(2));
  write_atomically(path, [&](const fs::path& tmp) {
    if (stbi_write_png(tmp.c_str(), w, h, c, hwc.data_ptr<std::uint8_t>(), w * c) == 0) {
      throw IoError(path.string() + ": cannot write PNG");
    }
  });
}

std::string encode_png(const torch::Tensor& image) {
  const auto hwc = to_hwc(image, "encode_png");
  const int h = static_cast<int>(hwc.size(0)), w = static_cast<int>(hwc.size(1)),
            c = static_cast<int>(hwc.size(2));
  std::string bytes;
  const auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
  };
  if (stbi_write_png_to_func(append, &bytes, w, h, c, hwc.data_ptr<std::uint8_t>(), w * c) == 0) {
    throw IoError("cannot encode a PNG image");
  }
  return bytes;
}

}  // namespace cnnlab
