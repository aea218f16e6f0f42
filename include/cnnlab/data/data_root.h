#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cnnlab/data/dataset.h"
#include "cnnlab/data/image_folder.h"

namespace cnnlab {

/// Where datasets live: one folder per dataset, named as the official archives unpack
/// (`mnist/`, `fashion-mnist/`, `cifar-10-batches-bin/`).
struct DataRoot {
  std::filesystem::path path;
  /// How the path was chosen, for error messages: "--data-dir", "$CNNLAB_DATA" or "default".
  std::string source;
};

/// `flag` (--data-dir) if non-empty, else `environment` (the value of $CNNLAB_DATA, which the
/// program reads) if non-empty, else `./data`.
DataRoot resolve_data_root(const std::string& flag, const std::string& environment);

/// What to load and how to prepare it. Defaults follow the study: MNIST, the last 10% of the
/// training set held out for validation, pixels scaled to [0, 1].
struct DataOptions {
  /// mnist | fashion-mnist | cifar10 | idx (an MNIST-style IDX pair in `dir`) | folder (images
  /// in `dir/<class name>/`)
  TORCH_ARG(std::string, dataset) = "mnist";
  /// Folder of the dataset. A relative path is looked up in the current directory, then in the
  /// data root. Empty: the dataset's standard folder name in the data root.
  TORCH_ARG(std::string, dir) = "";
  /// folder only: a separate test folder with the same class subfolders (a subset of them is
  /// fine). Empty: the test set is split off the shuffled images of `dir` (test_split).
  TORCH_ARG(std::string, test_dir) = "";
  /// folder only, without test_dir: the fraction of images held out as the test set.
  TORCH_ARG(double, test_split) = 0.2;
  /// folder only: every image is resized to [height, width].
  TORCH_ARG(std::vector<int64_t>, image_size) = std::vector<int64_t>{64, 64};
  /// folder only: "rgb" or "grayscale" (Keras' color_mode).
  TORCH_ARG(std::string, color_mode) = "rgb";
  /// folder only: an unreadable image is skipped with a warning ("skip") or stops the load
  /// ("fail").
  TORCH_ARG(std::string, bad_files) = "skip";
  /// Fraction of the training set held out for validation, taken from its end (Keras).
  TORCH_ARG(double, validation_split) = 0.1;
  /// Validate on the test set instead (Keras' `validation_data=(x_test, y_test)`, what a study
  /// with augmented data does, since Keras refuses validation_split there): the whole training
  /// set trains, and validation_split must be 0.
  TORCH_ARG(bool, validate_on_test) = false;
  /// Normalise each channel to zero mean and unit variance with statistics of the training split.
  TORCH_ARG(bool, normalize) = false;
  /// Explicit per-channel statistics (override `normalize`'s computed ones when non-empty).
  TORCH_ARG(std::vector<double>, mean) = {};
  TORCH_ARG(std::vector<double>, std) = {};
  /// Use only the first N training / test images (0: all), for quick runs and tests.
  TORCH_ARG(int64_t, train_limit) = 0;
  TORCH_ARG(int64_t, test_limit) = 0;
};

struct LoadedData {
  Dataset train;
  Dataset validation;
  Dataset test;
  Normalization normalization;
};

/// Loads a dataset's training and test sets from `root`, applies the limits, the validation
/// split and the normalisation. Throws DatasetNotFoundError saying where it looked and where the
/// official files can be downloaded, DataFormatError for corrupt files, ConfigError for an unknown
/// dataset name.
LoadedData load_data(const DataOptions& options, const DataRoot& root,
                     const LoadCallbacks& callbacks = {});

/// Loads only the test set (for evaluation of a saved run).
Dataset load_test_set(const DataOptions& options, const DataRoot& root,
                      const LoadCallbacks& callbacks = {});

/// The class names of a dataset without reading its images.
std::vector<std::string> dataset_class_names(const DataOptions& options, const DataRoot& root);

}  // namespace cnnlab
