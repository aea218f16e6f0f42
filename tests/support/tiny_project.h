#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace cnnlab::testing {

/// The layers (TOML) of the small models the tests train on 4x4 images: a conv layer of
/// `filters` 3x3 filters with relu, batch norm when asked, flatten, a hidden dense layer of
/// `hidden` relu units when > 0, and the softmax output.
inline std::string tiny_layers(int filters = 4, bool batch_norm = false, int hidden = 0) {
  std::string toml = "[[model.layers]]\ntype = \"conv2d\"\nfilters = " + std::to_string(filters) +
                     "\nactivation = \"relu\"\n";
  if (batch_norm) toml += "[[model.layers]]\ntype = \"batchnorm\"\n";
  toml += "[[model.layers]]\ntype = \"flatten\"\n";
  if (hidden > 0) {
    toml += "[[model.layers]]\ntype = \"dense\"\nunits = " + std::to_string(hidden) +
            "\nactivation = \"relu\"\n";
  }
  return toml + "[[model.layers]]\ntype = \"dense\"\nactivation = \"softmax\"\n";
}

/// What the tests of the cnnlab command train: in a fresh directory, a tiny MNIST-style dataset
/// (write_tiny_mnist) under data/mnist and a config file.
struct TinyProjectOptions {
  std::string name = "tiny";
  int n_train = 60;
  std::string layers = tiny_layers();
  /// Lines of the config's [train] and [data] tables.
  std::string train = "batch_size = 10\nepochs = 2\n";
  std::string data;
  /// Flags every `cnnlab train` of the project gets.
  std::vector<std::string> flags;
};

class TinyProject {
 public:
  explicit TinyProject(TinyProjectOptions options = {}) : options_(std::move(options)) {
    write_tiny_mnist(dir / "data" / "mnist", options_.n_train, 20);
    config = (dir / (options_.name + ".toml")).string();
    write_text(config, "name = \"" + options_.name + "\"\n[data]\n" + options_.data +
                           options_.layers + "[train]\n" + options_.train);
    data_dir = (dir / "data").string();
  }

  /// The arguments of `cnnlab train` of this project into `run`.
  std::vector<std::string> train_args(const std::filesystem::path& run) const {
    std::vector<std::string> args = {"train",  "-c",    config,      "--data-dir",
                                     data_dir, "--out", run.string()};
    args.insert(args.end(), options_.flags.begin(), options_.flags.end());
    return args;
  }
  /// What a user does after a crash: --resume a run directory that holds a run, or start again
  /// when the run had not begun (no config.toml yet).
  std::vector<std::string> resume_args(const std::filesystem::path& run) const {
    if (!std::filesystem::exists(run / "config.toml")) return train_args(run);
    return {"train", "--resume", run.string(), "--data-dir", data_dir};
  }
  /// `cnnlab train` of this project into `run` as a shell command, `extra` flags last.
  std::string train_command(const std::filesystem::path& run, const std::string& extra = "") const {
    std::string command = CNNLAB_BINARY;
    for (const auto& arg : train_args(run)) command += " " + arg;
    return extra.empty() ? command : command + " " + extra;
  }

  TempDir dir;
  std::string config;
  std::string data_dir;

 private:
  TinyProjectOptions options_;
};

}  // namespace cnnlab::testing
