#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cnnlab/data/dataset.h"

namespace cnnlab {

constexpr int64_t kCifarImageSize = 32;
constexpr int64_t kCifarRecordBytes = 1 + 3 * kCifarImageSize * kCifarImageSize;  // 3073
/// A batch file may hold at most this many records (the official ones hold 10,000).
constexpr int64_t kCifarMaxRecords = 1'000'000;

/// The ten CIFAR-10 class names in label order, used when batches.meta.txt is absent.
const std::vector<std::string>& cifar10_default_class_names();

/// Reads one CIFAR-10 binary batch (raw or gzip-compressed): records of 1 label byte then
/// 3,072 pixel bytes (red, green, blue planes, row-major 32×32). Throws DataFormatError naming the
/// file when its length is not a whole number of records or a label is ≥ `num_classes`.
/// Returns images [N, 3, 32, 32] uint8 and labels [N] int64.
Dataset read_cifar10_batch(const std::filesystem::path& path,
                           const std::vector<std::string>& class_names);

/// Reads class names, one per line, ignoring blank lines (batches.meta.txt).
std::vector<std::string> read_class_names(const std::filesystem::path& path);

/// Concatenates datasets that share class names (e.g. data_batch_1 … data_batch_5).
Dataset concatenate(const std::vector<Dataset>& parts);

}  // namespace cnnlab
