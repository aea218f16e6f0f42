#include "cnnlab/data/cifar10.h"

#include <fmt/format.h>

#include <cstring>
#include <fstream>

#include "cnnlab/error.h"
#include "cnnlab/io/gzip_reader.h"

namespace cnnlab {
namespace fs = std::filesystem;

const std::vector<std::string>& cifar10_default_class_names() {
  static const std::vector<std::string> names = {
      "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  return names;
}

Dataset read_cifar10_batch(const fs::path& path, const std::vector<std::string>& class_names) {
  const auto bytes =
      read_maybe_gzipped(path, static_cast<std::size_t>(kCifarMaxRecords * kCifarRecordBytes));
  const auto size = static_cast<int64_t>(bytes.size());
  if (size == 0 || size % kCifarRecordBytes != 0) {
    throw DataFormatError(fmt::format(
        "{}: truncated or corrupt: expected a whole number of {}-byte records, found {} bytes",
        path.filename().string(), kCifarRecordBytes, size));
  }
  const int64_t n = size / kCifarRecordBytes;
  auto images = torch::empty({n, 3, kCifarImageSize, kCifarImageSize}, torch::kUInt8);
  auto labels = torch::empty({n}, torch::kInt64);
  auto* image_data = images.data_ptr<std::uint8_t>();
  auto* label_data = labels.data_ptr<int64_t>();
  const int64_t pixels = kCifarRecordBytes - 1;
  const auto num_classes = static_cast<int64_t>(class_names.size());
  for (int64_t i = 0; i < n; ++i) {
    const std::uint8_t* record = bytes.data() + i * kCifarRecordBytes;
    if (record[0] >= num_classes) {
      throw DataFormatError(fmt::format("{}: record {}: label {} is out of range: expected 0 to {}",
                                        path.filename().string(), i, record[0], num_classes - 1));
    }
    label_data[i] = record[0];
    std::memcpy(image_data + i * pixels, record + 1, static_cast<std::size_t>(pixels));
  }
  return Dataset{images, labels, class_names};
}

std::vector<std::string> read_class_names(const fs::path& path) {
  const auto bytes = read_maybe_gzipped(path, std::size_t{1} << 20);
  std::vector<std::string> names;
  std::string line;
  for (std::size_t i = 0; i <= bytes.size(); ++i) {
    if (i == bytes.size() || bytes[i] == '\n') {
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
        line.pop_back();
      std::size_t start = 0;
      while (start < line.size() && std::isspace(static_cast<unsigned char>(line[start]))) ++start;
      if (start < line.size()) names.push_back(line.substr(start));
      line.clear();
    } else {
      line.push_back(static_cast<char>(bytes[i]));
    }
  }
  return names;
}

Dataset concatenate(const std::vector<Dataset>& parts) {
  TORCH_CHECK(!parts.empty(), "concatenate needs at least one dataset");
  std::vector<torch::Tensor> images, labels;
  for (const auto& part : parts) {
    images.push_back(part.images);
    labels.push_back(part.labels);
  }
  return Dataset{torch::cat(images), torch::cat(labels), parts.front().class_names};
}

}  // namespace cnnlab
