#include "cnnlab/data/idx.h"

#include <fmt/format.h>

#include <cstring>

#include "cnnlab/error.h"
#include "cnnlab/io/gzip_reader.h"

namespace cnnlab {
namespace fs = std::filesystem;

namespace {

constexpr int kIdxUbyteType = 0x08;
constexpr int kIdxMaxDims = 4;

int32_t big_endian_int32(const std::uint8_t* p) {
  return static_cast<int32_t>((uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
                              (uint32_t{p[2]} << 8) | uint32_t{p[3]});
}

std::string name_of(const fs::path& path) { return path.filename().string(); }

}  // namespace

IdxArray read_idx(const fs::path& path) {
  GzipReader reader(path);
  std::vector<std::uint8_t> header;
  if (reader.read(header, 4) < 4) {
    throw DataFormatError(
        fmt::format("{}: truncated: expected a 4-byte IDX magic number, found {} bytes",
                    name_of(path), header.size()));
  }
  const int32_t magic = big_endian_int32(header.data());
  const int type = header[2];
  const int ndim = header[3];
  if (header[0] != 0 || header[1] != 0 || ndim < 1 || ndim > kIdxMaxDims) {
    throw DataFormatError(fmt::format(
        "{}: bad magic number: expected an IDX header 0x0000TTDD with 1 to {} dimensions, found "
        "0x{:08x}",
        name_of(path), kIdxMaxDims, static_cast<uint32_t>(magic)));
  }
  if (type != kIdxUbyteType) {
    throw DataFormatError(fmt::format(
        "{}: unsupported IDX element type: expected 0x08 (unsigned byte), found 0x{:02x}",
        name_of(path), type));
  }
  if (reader.read(header, 4 * static_cast<std::size_t>(ndim)) <
      4 * static_cast<std::size_t>(ndim)) {
    throw DataFormatError(fmt::format(
        "{}: truncated: the header declares {} dimensions but ends early", name_of(path), ndim));
  }
  std::vector<int64_t> dims;
  int64_t total = 1;
  for (int d = 0; d < ndim; ++d) {
    const int32_t size = big_endian_int32(header.data() + 4 + 4 * d);
    if (size < 0) {
      throw DataFormatError(
          fmt::format("{}: dimension {} is negative ({})", name_of(path), d, size));
    }
    dims.push_back(size);
    if (size != 0 && total > kMaxIdxBytes / size) {
      throw DataFormatError(
          fmt::format("{}: header declares more than {} bytes of data; refusing to read it",
                      name_of(path), kMaxIdxBytes));
    }
    total *= size;
  }
  std::vector<std::uint8_t> payload;
  const std::size_t got = reader.read(payload, static_cast<std::size_t>(total));
  if (static_cast<int64_t>(got) < total) {
    throw DataFormatError(fmt::format("{}: truncated: expected {} bytes of data, found {}",
                                      name_of(path), total, got));
  }
  if (!reader.at_end()) {
    throw DataFormatError(
        fmt::format("{}: unexpected bytes after the {} bytes of data the header declares",
                    name_of(path), total));
  }
  auto tensor = torch::empty(dims, torch::kUInt8);
  // An empty payload may have no buffer at all: memcpy must not see its null pointer.
  if (!payload.empty()) {
    std::memcpy(tensor.data_ptr<std::uint8_t>(), payload.data(), payload.size());
  }
  return IdxArray{magic, tensor};
}

Dataset load_idx_dataset(const fs::path& images_path, const fs::path& labels_path,
                         std::vector<std::string> class_names) {
  IdxArray images = read_idx(images_path);
  if (images.magic != kIdxImagesMagic) {
    throw DataFormatError(fmt::format("{}: bad magic number: expected {}, found {}",
                                      name_of(images_path), kIdxImagesMagic, images.magic));
  }
  IdxArray labels = read_idx(labels_path);
  if (labels.magic != kIdxLabelsMagic) {
    throw DataFormatError(fmt::format("{}: bad magic number: expected {}, found {}",
                                      name_of(labels_path), kIdxLabelsMagic, labels.magic));
  }
  const int64_t n = images.data.size(0);
  if (labels.data.size(0) != n) {
    throw DataFormatError(fmt::format("{}: expected {} labels to match {}, found {}",
                                      name_of(labels_path), n, name_of(images_path),
                                      labels.data.size(0)));
  }
  const int64_t num_classes = static_cast<int64_t>(class_names.size());
  if (n > 0) {
    const int64_t max_label = labels.data.max().item<int64_t>();
    if (max_label >= num_classes) {
      const int64_t index = labels.data.argmax().item<int64_t>();
      throw DataFormatError(fmt::format("{}: label {} of item {} is out of range: expected 0 to {}",
                                        name_of(labels_path), max_label, index, num_classes - 1));
    }
  }
  return Dataset{images.data.unsqueeze(1).contiguous(), labels.data.to(torch::kInt64),
                 std::move(class_names)};
}

}  // namespace cnnlab
