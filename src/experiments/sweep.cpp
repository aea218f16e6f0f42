#include "cnnlab/experiments/sweep.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fnmatch.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "cnnlab/config/overrides.h"
#include "cnnlab/config/run_config.h"
#include "cnnlab/error.h"
#include "cnnlab/run/run_dir.h"

namespace cnnlab {
namespace fs = std::filesystem;

namespace {

constexpr const char* kLayersPrefix = "model.layers.";

// A TOML value as the text an override takes ("5", "0.001", "\"same\"", "[3, 3]").
std::string value_text(const toml::node& node) {
  std::ostringstream out;
  node.visit([&](const auto& value) { out << value; });
  return out.str();
}

std::string display_value(std::string text) {
  if (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') &&
      text.back() == text.front()) {
    text = text.substr(1, text.size() - 2);
  }
  return text;
}

std::string last_part(const std::string& key) {
  const auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

// The entries of a TOML table in the order the file has them (toml++ keeps tables sorted).
std::vector<std::pair<const toml::key*, const toml::node*>> in_file_order(const toml::table& t) {
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  for (const auto& [key, node] : t) entries.emplace_back(&key, &node);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    const auto& pa = a.first->source().begin;
    const auto& pb = b.first->source().begin;
    return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
  });
  return entries;
}

std::vector<std::string> string_list(const toml::node* node, const std::string& where) {
  std::vector<std::string> list;
  if (node == nullptr) return list;
  const auto* array = node->as_array();
  if (array == nullptr) throw ConfigError(where + ": expected a list of strings");
  for (const auto& item : *array) {
    if (!item.is_string()) throw ConfigError(where + ": expected a list of strings");
    list.push_back(*item.value<std::string>());
  }
  return list;
}

// key=value overrides for one axis value; wildcard layer names become one override per layer.
std::vector<std::string> axis_overrides(const std::string& key, const std::string& value,
                                        const ModelSpec& model) {
  if (key.rfind(kLayersPrefix, 0) != 0 || key.find('*') == std::string::npos) {
    return {key + "=" + value};
  }
  const std::string rest = key.substr(std::string(kLayersPrefix).size());
  const auto dot = rest.find('.');
  if (dot == std::string::npos) {
    throw ConfigError(fmt::format("{}: expected model.layers.<layer>.<option>", key));
  }
  const std::string pattern = rest.substr(0, dot), option = rest.substr(dot + 1);
  std::vector<std::string> overrides, names;
  for (const auto& layer : model.layers) {
    names.push_back(layer.name);
    if (fnmatch(pattern.c_str(), layer.name.c_str(), 0) == 0 &&
        layer_takes_option(layer.type, option)) {
      overrides.push_back(fmt::format("{}{}.{}={}", kLayersPrefix, layer.name, option, value));
    }
  }
  if (overrides.empty()) {
    throw ConfigError(fmt::format("{}: no layer matching '{}' has the option '{}' (layers: {})",
                                  key, pattern, option, fmt::join(names, ", ")));
  }
  return overrides;
}

}  // namespace

std::vector<SweepAxis> read_grid(const toml::table& grid, const std::string& where) {
  std::vector<SweepAxis> axes;
  for (const auto& [key, node] : in_file_order(grid)) {
    SweepAxis axis{std::string(key->str()), {}};
    const auto* values = node->as_array();
    if (values == nullptr || values->empty()) {
      throw ConfigError(
          fmt::format("{}.\"{}\": expected a non-empty list of values", where, axis.key));
    }
    for (const auto& value : *values) axis.values.push_back(value_text(value));
    axes.push_back(std::move(axis));
  }
  return axes;
}

std::vector<std::vector<std::pair<std::string, std::string>>> read_points(
    const toml::array& points, const std::string& where) {
  std::vector<std::vector<std::pair<std::string, std::string>>> out;
  for (const auto& node : points) {
    const auto* table = node.as_table();
    if (table == nullptr) throw ConfigError(where + ": expected [[points]] tables");
    std::vector<std::pair<std::string, std::string>> point;
    for (const auto& [key, value] : in_file_order(*table)) {
      point.emplace_back(key->str(), value_text(*value));
    }
    out.push_back(std::move(point));
  }
  return out;
}

SweepSpec parse_sweep(const std::string& text, const std::string& source,
                      const fs::path& base_dir) {
  toml::table root = parse_toml(text, source);
  SweepSpec spec;
  spec.name = root["name"].value_or(std::string());
  if (spec.name.empty() || spec.name.find('/') != std::string::npos) {
    throw ConfigError(fmt::format("{}: name: expected a non-empty name without '/'", source));
  }
  const auto config = root["config"].value<std::string>();
  if (!config)
    throw ConfigError(fmt::format("{}: config: expected the base config's path", source));
  spec.config = fs::path(*config).is_absolute() ? fs::path(*config) : base_dir / *config;
  spec.set = string_list(root.get("set"), source + ": set");
  if (const auto* grid = root.get_as<toml::table>("grid")) {
    spec.grid = read_grid(*grid, source + ": grid");
  }
  if (const auto* points = root.get_as<toml::array>("points")) {
    spec.points = read_points(*points, source + ": points");
  }
  if (spec.grid.empty() == spec.points.empty()) {
    throw ConfigError(fmt::format("{}: expected either a [grid] table or [[points]], not {}",
                                  source, spec.grid.empty() ? "neither" : "both"));
  }
  for (const auto& [key, unused] : root) {
    static const std::set<std::string> kKnown{"name", "config", "set", "grid", "points"};
    if (!kKnown.count(std::string(key.str()))) {
      throw ConfigError(
          fmt::format("{}: unknown key '{}' (expected name, config, set, grid or "
                      "points)",
                      source, key.str()));
    }
  }
  return spec;
}

SweepSpec load_sweep_file(const fs::path& path) {
  return parse_sweep(read_config_text(path, "sweep file"), path.string(), path.parent_path());
}

std::vector<SweepPoint> expand_sweep(const SweepSpec& spec) {
  // `set` entries may use layer wildcards too; they are expanded against the base config.
  std::vector<std::string> plain_set;
  std::vector<std::pair<std::string, std::string>> wildcard_set;
  for (const auto& entry : spec.set) {
    const auto eq = entry.find('=');
    if (eq != std::string::npos && entry.substr(0, eq).find('*') != std::string::npos) {
      wildcard_set.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
    } else {
      plain_set.push_back(entry);
    }
  }
  const RunConfig unset = load_config_file(spec.config, plain_set);
  std::vector<std::string> set = plain_set;
  for (const auto& [key, value] : wildcard_set) {
    for (auto& o : axis_overrides(key, value, unset.model)) set.push_back(o);
  }
  const RunConfig base = load_config_file(spec.config, set);
  std::vector<std::vector<std::pair<std::string, std::string>>> combos;
  if (!spec.grid.empty()) {
    combos.emplace_back();
    for (const auto& axis : spec.grid) {
      std::vector<std::vector<std::pair<std::string, std::string>>> next;
      for (const auto& combo : combos) {
        for (const auto& value : axis.values) {
          auto extended = combo;
          extended.emplace_back(axis.key, value);
          next.push_back(std::move(extended));
        }
      }
      combos = std::move(next);
    }
  } else {
    combos = spec.points;
  }
  // A key is shown by its last part ("kernel") unless two keys share that part.
  std::map<std::string, std::set<std::string>> keys_by_last_part;
  for (const auto& combo : combos) {
    for (const auto& [key, value] : combo) keys_by_last_part[last_part(key)].insert(key);
  }
  std::vector<SweepPoint> points;
  for (const auto& combo : combos) {
    SweepPoint point;
    point.values = combo;
    point.overrides = set;
    std::vector<std::string> parts;
    for (const auto& [key, value] : combo) {
      const std::string name = keys_by_last_part[last_part(key)].size() > 1 ? key : last_part(key);
      parts.push_back(name + "=" + display_value(value));
      for (auto& o : axis_overrides(key, value, base.model)) point.overrides.push_back(o);
    }
    point.label = parts.empty() ? "base" : fmt::format("{}", fmt::join(parts, ","));
    for (char& c : point.label) {
      if (c == '/' || c == ' ' || c == '*') c = '_';
    }
    // A typo in a key or a value of the wrong type is an error of the sweep file, found before
    // any training; a model that cannot be built is found (and reported) when its point runs.
    try {
      load_config_file(spec.config, point.overrides);
    } catch (const ConfigError& e) {
      throw ConfigError(fmt::format("sweep '{}', point {}: {}", spec.name, point.label, e.what()));
    }
    points.push_back(std::move(point));
  }
  return points;
}

std::string directory_name(const std::string& label) {
  std::string name;
  for (const char c : label) {
    const bool plain = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                       c == '_' || c == '=' || c == ',';
    name += plain ? c : '_';
  }
  return name.empty() || name == "." || name == ".." ? "point" : name;
}

std::vector<PlannedRun> plan_sweep(const std::vector<SweepPoint>& points, const fs::path& config,
                                   const fs::path& sweep_dir) {
  std::vector<PlannedRun> plan;
  std::set<std::string> taken;
  for (const auto& point : points) {
    std::string dir = directory_name(point.label);
    for (int i = 2; !taken.insert(dir).second; ++i) {
      dir = fmt::format("{}-{}", directory_name(point.label), i);
    }
    PlannedRun run{point.label, config, point.overrides, SweepDir(sweep_dir).run(dir).path()};
    run.overrides.push_back(fmt::format("name=\"{}\"", point.label));
    plan.push_back(std::move(run));
  }
  return plan;
}

}  // namespace cnnlab
