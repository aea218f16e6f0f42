#include "cnnlab/data/image_file.h"

#include <fmt/format.h>
#include <stb_image.h>
#include <stb_image_write.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <string_view>

#include "cnnlab/error.h"
#include "cnnlab/io/atomic_file.h"

namespace cnnlab {
namespace fs = std::filesystem;

namespace {
// 2²⁵ pixels: an 8K frame (7680 x 4320) or a 33-megapixel photo. Decoding one takes up to
// ~0.5 GB (bytes, then floats to resize); a few bytes of hostile header must not ask for more.
constexpr int64_t kMaxImagePixels = int64_t{1} << 25;

// [C, H, W] uint8 → contiguous [H, W, C], the layout stb writes.
torch::Tensor to_hwc(const torch::Tensor& image, const char* caller) {
  TORCH_CHECK(image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3) &&
                  image.scalar_type() == torch::kUInt8,
              caller, " expects [1|3, H, W] uint8, got ", image.sizes());
  return image.permute({1, 2, 0}).to(torch::kCPU).contiguous();
}

enum class ImageKind { kPng, kJpeg, kBmp, kGif, kOther };

// The formats cnnlab promises, told by their signatures. The decoder knows more (PSD, TGA, HDR,
// PIC, PNM), but each is more code a hostile file can reach: those are refused unread.
ImageKind image_kind(std::string_view bytes) {
  const auto starts = [&](std::string_view prefix) {
    return bytes.substr(0, prefix.size()) == prefix;
  };
  if (starts("\x89PNG\r\n\x1a\n")) return ImageKind::kPng;
  if (starts("\xFF\xD8\xFF")) return ImageKind::kJpeg;
  if (starts("BM")) return ImageKind::kBmp;
  if (starts("GIF87a") || starts("GIF89a")) return ImageKind::kGif;
  return ImageKind::kOther;
}

// Why a JPEG's Huffman tables are unsafe to decode, or "" when they are not. A table declares
// how many codes it has of each length 1-16; more than 256 in all overflow the decoder's fixed
// arrays (stb_image before 2.28 does not check), so such files are refused before decoding.
// Walks the markers as the decoder does, through the entropy-coded data of every scan.
std::string unsafe_jpeg_tables(std::string_view bytes) {
  const auto at = [&](std::size_t i) -> unsigned {
    return i < bytes.size() ? uint8_t(bytes[i]) : 0u;
  };
  std::size_t pos = 2;  // after SOI
  while (pos + 1 < bytes.size()) {
    if (at(pos) != 0xFF) {  // padding between segments: the decoder scans on for a marker
      ++pos;
      continue;
    }
    const unsigned marker = at(pos + 1);
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xD9) return "";  // EOI
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {
      pos += 2;
      continue;
    }
    const std::size_t end = pos + 2 + ((at(pos + 2) << 8) | at(pos + 3));
    if (marker == 0xC4) {  // DHT: tables of 1 + 16 + n bytes
      for (std::size_t table = pos + 4; table < end && table < bytes.size();) {
        std::size_t codes = 0;
        for (std::size_t i = 1; i <= 16; ++i) codes += at(table + i);
        if (codes > 256) {
          return fmt::format("a Huffman table declares {} codes, at most 256 are possible", codes);
        }
        table += 17 + codes;
      }
    }
    pos = end;
    if (marker == 0xDA) {  // SOS: entropy-coded data runs to the next marker
      while (pos + 1 < bytes.size() && !(at(pos) == 0xFF && at(pos + 1) != 0x00 &&
                                         !(at(pos + 1) >= 0xD0 && at(pos + 1) <= 0xD7))) {
        ++pos;
      }
    }
  }
  return "";
}

}  // namespace

torch::Tensor read_image_file(const fs::path& path, int64_t channels, int64_t height,
                              int64_t width) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw IoError(path.string() + ": no such image file");
  }
  const auto size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) throw IoError(path.string() + ": cannot read: " + ec.message());
  if (size > kMaxImageFileBytes) {
    throw DataFormatError(fmt::format("{}: {} bytes, more than the {} an image file may have",
                                      path.string(), size, kMaxImageFileBytes));
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  if (!in || !in.read(bytes.data(), static_cast<std::streamsize>(size))) {
    throw IoError(path.string() + ": cannot read: " + std::strerror(errno));
  }
  return decode_image(bytes, path.string(), channels, height, width);
}

torch::Tensor decode_image(const std::string& bytes, const std::string& name, int64_t channels,
                           int64_t height, int64_t width) {
  TORCH_CHECK(channels == 1 || channels == 3, "decode_image: channels must be 1 or 3");
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw DataFormatError(name + ": too large to be an image file");
  }
  const ImageKind kind = image_kind(bytes);
  if (kind == ImageKind::kOther) {
    throw DataFormatError(fmt::format(
        "{}: not a readable image (PNG, JPEG, BMP or GIF expected): it starts with none "
        "of their signatures",
        name));
  }
  if (kind == ImageKind::kJpeg) {
    const std::string why = unsafe_jpeg_tables(bytes);
    if (!why.empty()) throw DataFormatError(fmt::format("{}: corrupt JPEG: {}", name, why));
  }
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int length = static_cast<int>(bytes.size());
  int w = 0, h = 0, file_channels = 0;
  // The header's size is checked before any pixel is allocated: a small hostile file must not
  // claim gigabytes. A header the decoder cannot even size is not decoded at all.
  if (stbi_info_from_memory(data, length, &w, &h, &file_channels) == 0) {
    throw DataFormatError(
        fmt::format("{}: not a readable image (PNG, JPEG, BMP or GIF expected): {}", name,
                    stbi_failure_reason()));
  }
  if (static_cast<int64_t>(w) * h > kMaxImagePixels) {
    throw DataFormatError(fmt::format("{}: the image claims {}x{} pixels, more than the {} allowed",
                                      name, w, h, kMaxImagePixels));
  }
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(data, length, &w, &h, &file_channels, static_cast<int>(channels)),
      stbi_image_free);
  if (!pixels) {
    throw DataFormatError(
        fmt::format("{}: not a readable image (PNG, JPEG, BMP or GIF expected): {}", name,
                    stbi_failure_reason()));
  }
  if (w <= 0 || h <= 0) {
    throw DataFormatError(fmt::format("{}: the image has no pixels ({}x{})", name, w, h));
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
