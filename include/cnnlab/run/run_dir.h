#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "cnnlab/training/callbacks.h"

namespace cnnlab {

/// A run directory, and the one place that knows the names of its files:
///
///   config.toml        the resolved config (every option, defaults included)
///   summary.txt        the model summary
///   data_root.txt      the absolute data root the run was trained from
///   steps.csv          one line per training step, written as training goes
///   epochs.csv         one line per epoch
///   weights/epoch-NNN.json  a histogram of every parameter at the end of epoch NNN
///   checkpoints/last.pt, best.pt
///   metrics.json       test loss and accuracy and how the run ran, when training completes
///   report.html        the run's report
class RunDir {
 public:
  RunDir() = default;
  /// Implicit: a path names a run directory wherever one is expected.
  RunDir(std::filesystem::path path) : path_(std::move(path)) {}  // NOLINT
  RunDir(const std::string& path) : path_(path) {}                // NOLINT
  RunDir(const char* path) : path_(path) {}                       // NOLINT

  const std::filesystem::path& path() const { return path_; }
  std::string string() const { return path_.string(); }

  std::filesystem::path config() const { return path_ / "config.toml"; }
  std::filesystem::path summary() const { return path_ / "summary.txt"; }
  std::filesystem::path data_root() const { return path_ / "data_root.txt"; }
  std::filesystem::path steps() const { return path_ / "steps.csv"; }
  std::filesystem::path epochs() const { return path_ / "epochs.csv"; }
  std::filesystem::path weights() const { return path_ / "weights"; }
  std::filesystem::path weight_histograms(int64_t epoch) const;
  std::filesystem::path checkpoints() const { return path_ / "checkpoints"; }
  std::filesystem::path checkpoint(CheckpointKind kind) const;
  /// "last" or "best", as --checkpoint spells them; throws ConfigError naming --checkpoint for
  /// another name.
  std::filesystem::path checkpoint(const std::string& name) const;
  std::filesystem::path metrics() const { return path_ / "metrics.json"; }
  std::filesystem::path report() const { return path_ / "report.html"; }

  /// Whether the directory holds a run (its config.toml).
  bool holds_run() const;

 private:
  std::filesystem::path path_;
};

/// A sweep's folder: a run directory per point, sweep.html comparing them and sweep.csv.
class SweepDir {
 public:
  explicit SweepDir(std::filesystem::path path) : path_(std::move(path)) {}
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path page() const { return path_ / "sweep.html"; }
  std::filesystem::path table() const { return path_ / "sweep.csv"; }
  /// The run directory of the point whose folder name is `name`.
  RunDir run(const std::string& name) const { return RunDir(path_ / name); }

 private:
  std::filesystem::path path_;
};

/// A study's folder: a run directory per part's model (and its L2 variant), a sweep folder per
/// part's sweep (<part>-sweep), and study.html.
class StudyDir {
 public:
  explicit StudyDir(std::filesystem::path path) : path_(std::move(path)) {}
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path page() const { return path_ / "study.html"; }
  RunDir run(const std::string& name) const { return RunDir(path_ / name); }
  /// The sweep of the part `part`.
  SweepDir sweep(const std::string& part) const { return SweepDir(path_ / (part + "-sweep")); }

 private:
  std::filesystem::path path_;
};

}  // namespace cnnlab
