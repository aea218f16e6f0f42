#pragma once

#include <toml++/toml.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cnnlab/experiments/plan.h"

namespace cnnlab {

/// One axis of a sweep: a config option and the values it takes, as TOML text ("5", "0.001",
/// "\"same\""). Inside model.layers a layer name may hold '*' wildcards
/// (`model.layers.Conv*.stride`): every matching layer that has the option gets the value.
struct SweepAxis {
  std::string key;
  std::vector<std::string> values;
};

/// A sweep file:
/// ```toml
/// name = "mnist-filters"
/// config = "../configs/mnist.toml"     # the base config, relative to this file
/// set = ["train.epochs=3"]              # overrides every point shares (wildcards allowed)
/// [grid]                                # every combination of the values (in this order)
/// "model.layers.Conv*.kernel" = [3, 5, 7, 9]
/// "model.layers.Conv*.stride" = [1, 2, 3]
/// # or a list of points instead of a grid:
/// # [[points]]
/// # "train.l2" = 0.001
/// ```
struct SweepSpec {
  std::string name;
  std::filesystem::path config;
  std::vector<std::string> set;
  std::vector<SweepAxis> grid;
  /// Explicit points, each a list of key=value overrides (used when `grid` is empty).
  std::vector<std::vector<std::pair<std::string, std::string>>> points;
};

/// The axes of a grid table, in the order they are written. `where` names the table in the
/// ConfigError thrown for an entry that is not a non-empty list.
std::vector<SweepAxis> read_grid(const toml::table& grid, const std::string& where);

/// The points of an array of [[points]] tables, each a list of (key, value) in the order written.
/// `where` names the array in the ConfigError thrown for an entry that is not a table.
std::vector<std::vector<std::pair<std::string, std::string>>> read_points(const toml::array& points,
                                                                          const std::string& where);

/// Reads a sweep file; `config` is resolved against the file's folder. Throws ConfigError naming
/// the file and the key for a missing or ill-typed entry.
SweepSpec load_sweep_file(const std::filesystem::path& path);

/// As load_sweep_file, for text in memory; `source` names it in messages, `base_dir` resolves
/// `config`.
SweepSpec parse_sweep(const std::string& text, const std::string& source,
                      const std::filesystem::path& base_dir);

/// One run of a sweep.
struct SweepPoint {
  /// "kernel=5,stride=2": the axes' last key parts (whole keys where those repeat) and values.
  std::string label;
  /// (axis key, value) in axis order, as written in the sweep.
  std::vector<std::pair<std::string, std::string>> values;
  /// The overrides that make this point, after the sweep's `set`, wildcards expanded.
  std::vector<std::string> overrides;
};

/// The points of a sweep, in order: the grid's combinations with the last axis varying fastest,
/// or the listed points. Wildcards are matched against the layer names of the base config (with
/// `set` applied). Throws ConfigError when the base config cannot be read, a wildcard matches
/// no layer that has the option, or a point's config is invalid (an unknown option, a value of the
/// wrong type); a model that cannot be built is only found when its point is trained.
std::vector<SweepPoint> expand_sweep(const SweepSpec& spec);

/// A folder name for a point's label: letters, digits and . - _ = , kept, anything else '_'.
std::string directory_name(const std::string& label);

/// The runs of a sweep: point i trains `config` with its overrides (and `name` set to its label)
/// into `sweep_dir`/<its label as a folder name>.
std::vector<PlannedRun> plan_sweep(const std::vector<SweepPoint>& points,
                                   const std::filesystem::path& config,
                                   const std::filesystem::path& sweep_dir);

}  // namespace cnnlab
