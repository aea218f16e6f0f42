#pragma once

#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "cnnlab/experiments/plan.h"
#include "cnnlab/experiments/sweep.h"

namespace cnnlab {

/// One part of a study: a model, optionally a sweep over its options, and the same model with L2.
struct StudyPart {
  /// Names the part's runs: <name>, <name>-l2 and <name>-sweep/<point>.
  std::string name;
  std::string title;  // "MNIST"
  std::filesystem::path config;
  /// A tuned config of the same task, trained beside the model (and with L2, beside its L2
  /// variant) and shown as a column of its own; empty: none.
  std::filesystem::path preset;
  std::vector<std::string> set;  // overrides of the part's runs
  /// The study's published test accuracy of the model and of its L2 variant (NaN: none).
  double reference_accuracy = std::numeric_limits<double>::quiet_NaN();
  double reference_l2_accuracy = std::numeric_limits<double>::quiet_NaN();
  /// Overrides that make the L2 variant ("train.l2=0.01"); empty: the part has none.
  std::vector<std::string> l2;
  /// Axes of a grid over the model's options (wildcards as in sweeps); empty: no sweep.
  std::vector<SweepAxis> sweep;
  /// Or the sweep's points, listed (as a sweep file's [[points]]).
  std::vector<std::vector<std::pair<std::string, std::string>>> sweep_points;
  /// Seeds each point of the sweep is trained with (train.seed); the spread over them is the
  /// noise margin the study's conclusions are tested against. Empty: one run per point.
  std::vector<std::string> seeds;
  /// Overrides of the sweep's runs only (wildcards allowed), e.g. padding that keeps every point
  /// of a stride sweep possible.
  std::vector<std::string> sweep_set;
  /// Test images whose feature maps are shown (indexes or class names; empty: the first).
  std::vector<std::string> images;
};

/// A study file:
/// ```toml
/// name = "cnn-study"
/// title = "…"
/// [[parts]]
/// name = "mnist"
/// title = "MNIST"
/// config = "../configs/mnist.toml"
/// reference_accuracy = 0.9920
/// l2 = ["train.l2=0.01"]
/// reference_l2_accuracy = 0.9720
/// preset = "../configs/mnist-tuned.toml"
/// images = ["7"]
/// sweep_set = ["model.layers.Conv*.padding=same"]
/// [parts.sweep]
/// "model.layers.Conv*.kernel" = [3, 5, 7, 9]
/// # or listed points instead of a grid:
/// # [[parts.sweep_points]]
/// # "model.layers.Conv*.kernel" = 3
/// ```
struct StudySpec {
  std::string name;
  std::string title;
  std::vector<StudyPart> parts;
};

/// Reads a study file; configs are resolved against its folder. Throws ConfigError naming the
/// file and the key for a missing or ill-typed entry.
StudySpec load_study_file(const std::filesystem::path& path);
StudySpec parse_study(const std::string& text, const std::string& source,
                      const std::filesystem::path& base_dir);

/// Where each part's runs sit in the study's plan.
struct StudyPartPlan {
  std::size_t model = 0;
  std::size_t l2 = SIZE_MAX;         // SIZE_MAX: no L2 run
  std::size_t preset = SIZE_MAX;     // SIZE_MAX: no preset
  std::size_t preset_l2 = SIZE_MAX;  // the preset with L2
  std::vector<std::size_t> sweep;    // the sweep's runs, in point order
  std::vector<SweepPoint> points;    // the sweep's points
};

struct StudyPlan {
  std::vector<PlannedRun> runs;
  std::vector<StudyPartPlan> parts;
};

/// The study's runs in its order (per part: the model, its sweep, its L2 variant, then the
/// preset and the preset with L2, as <name>-preset and <name>-preset-l2) inside
/// `study_dir`; `extra` overrides go to every run (after the part's own).
StudyPlan plan_study(const StudySpec& spec, const std::filesystem::path& study_dir,
                     const std::vector<std::string>& extra = {});

/// The overrides of a quick study: a few hundred training and test images, one epoch.
std::vector<std::string> quick_study_overrides();

}  // namespace cnnlab
