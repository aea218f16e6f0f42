#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cnnlab/data/data_root.h"
#include "cnnlab/models/layer_spec.h"
#include "cnnlab/training/trainer.h"

namespace cnnlab {

/// A whole experiment as a config file describes it.
///
/// ```toml
/// name = "mnist"
/// [data]
/// dataset = "mnist"
/// validation_split = 0.1
/// [[model.layers]]
/// type = "conv2d"   # name defaults to Conv1
/// filters = 32
/// kernel = 3
/// activation = "relu"
/// …
/// [train]
/// epochs = 5
/// batch_size = 64
/// optimizer = "adam"
/// lr = 0.001
/// ```
struct RunConfig {
  std::string name = "run";
  DataOptions data;
  /// input and num_classes are filled from the dataset when the run starts (or read from
  /// [model] input / classes in a run directory's resolved config).
  ModelSpec model;
  /// Class names in label order; empty until the dataset is known.
  std::vector<std::string> class_names;
  TrainerOptions train;
  /// Threads for LibTorch's intra-op pool (0: one per core).
  int64_t threads = 0;
  /// Parent folder of run directories.
  std::string output_dir = "runs";
};

/// Parses a config file, with the files it `extends` folded in (see read_config_table), after
/// applying `overrides` ("key.path=value", as `--set` takes them; see apply_override). Throws
/// ConfigError naming the file (and the files it extends), the line and the option for syntax
/// errors, unknown options, values of the wrong type or out of range.
RunConfig load_config_file(const std::filesystem::path& path,
                           const std::vector<std::string>& overrides = {});

/// As load_config_file, for text in memory (which cannot extend a file); `source` names it in
/// messages.
RunConfig parse_config(const std::string& text, const std::string& source,
                       const std::vector<std::string>& overrides = {});

/// The config with every option spelled out (defaults included), as TOML that parse_config reads
/// back to an equal RunConfig. Written into each run directory as config.toml.
std::string to_toml(const RunConfig& config);

}  // namespace cnnlab
