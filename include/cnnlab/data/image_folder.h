#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "cnnlab/data/dataset.h"

namespace cnnlab {

/// What a long data load tells its caller while it works.
struct LoadCallbacks {
  /// A file skipped, or another fact the user should see; one line, no trailing newline.
  std::function<void(const std::string& message)> warn;
  /// `done` of `total` images decoded; called from the loading thread after each chunk.
  std::function<void(int64_t done, int64_t total)> progress;
};

/// The image files of a folder dataset, `root/<class name>/**/*.{png,jpg,jpeg,bmp}` (the layout of
/// torchvision's ImageFolder and Keras' image_dataset_from_directory), before decoding.
struct ImageFolderListing {
  std::vector<std::string> class_names;  // sorted folder names
  std::vector<std::filesystem::path> files;
  std::vector<int64_t> labels;  // index into class_names, one per file
  /// Files passed over, "path: reason" (not an image by its extension).
  std::vector<std::string> skipped;
};

/// Lists a folder dataset. Class folders are the immediate subfolders of `root`, sorted by name;
/// images are found in them recursively, in sorted order; names starting with '.' are ignored.
/// With `classes` non-empty, labels follow that list instead (for a test folder), and a subfolder
/// not in it is an error naming it. Throws DatasetNotFoundError when `root` is not a folder,
/// DataFormatError when it has no class folders or a class folder holds no image.
ImageFolderListing list_image_folder(const std::filesystem::path& root,
                                     const std::vector<std::string>& classes = {});

/// How images are decoded.
struct ImageDecodeOptions {
  /// 1: grayscale (luminance), 3: RGB.
  TORCH_ARG(int64_t, channels) = 3;
  TORCH_ARG(int64_t, height) = 64;
  TORCH_ARG(int64_t, width) = 64;
  /// An unreadable file is skipped with a warning (true) or is an error (false).
  TORCH_ARG(bool, skip_bad_files) = true;
};

/// Decodes `files` in parallel into one [N, C, H, W] uint8 dataset (every image resized to the
/// options' size). Files that fail to decode are skipped with callbacks.warn naming the file and
/// the reason, or throw DataFormatError naming it when skip_bad_files is false. Throws
/// DataFormatError when no file could be decoded.
Dataset decode_images(const ImageFolderListing& listing, const ImageDecodeOptions& options,
                      const LoadCallbacks& callbacks = {});

}  // namespace cnnlab
