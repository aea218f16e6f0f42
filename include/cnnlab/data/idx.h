#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cnnlab/data/dataset.h"

namespace cnnlab {

/// The IDX magic numbers of unsigned-byte files, as MNIST uses them.
constexpr int32_t kIdxImagesMagic = 2051;  // 0x00000803: ubyte, 3 dimensions
constexpr int32_t kIdxLabelsMagic = 2049;  // 0x00000801: ubyte, 1 dimension

/// Largest payload an IDX file may declare; larger headers are rejected before any allocation.
constexpr int64_t kMaxIdxBytes = int64_t{4} << 30;

struct IdxArray {
  int32_t magic = 0;
  /// data: uint8 with the dimensions the header declares.
  torch::Tensor data;
};

/// Reads an IDX file of unsigned bytes (raw or gzip-compressed). Throws DataFormatError naming the
/// file for a bad magic number, a non-ubyte element type, a declared size over kMaxIdxBytes, a
/// truncated payload or trailing bytes; IoError when it cannot be opened.
IdxArray read_idx(const std::filesystem::path& path);

/// Loads an MNIST-style pair: images with magic 2051 ([N, rows, cols]) and labels with magic
/// 2049 ([N]). Checks that counts agree and labels lie in [0, class_names.size()).
/// Returns images as [N, 1, rows, cols] uint8.
Dataset load_idx_dataset(const std::filesystem::path& images_path,
                         const std::filesystem::path& labels_path,
                         std::vector<std::string> class_names);

}  // namespace cnnlab
