#include "cnnlab/experiments/study.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "cnnlab/config/overrides.h"
#include "cnnlab/error.h"
#include "cnnlab/run/run_dir.h"

namespace cnnlab {
namespace fs = std::filesystem;

namespace {

std::vector<std::string> strings(const toml::table& table, const char* key,
                                 const std::string& where) {
  std::vector<std::string> list;
  const toml::node* node = table.get(key);
  if (node == nullptr) return list;
  const auto* array = node->as_array();
  bool ok = array != nullptr;
  if (ok) {
    for (const auto& item : *array) {
      if (!item.is_string()) {
        ok = false;
        break;
      }
      list.push_back(*item.value<std::string>());
    }
  }
  if (!ok) throw ConfigError(fmt::format("{}.{}: expected a list of strings", where, key));
  return list;
}

std::string required_string(const toml::table& table, const char* key, const std::string& where) {
  const auto value = table[key].value<std::string>();
  if (!value || value->empty()) {
    throw ConfigError(fmt::format("{}.{}: expected a non-empty string", where, key));
  }
  return *value;
}

double optional_number(const toml::table& table, const char* key, const std::string& where) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return std::numeric_limits<double>::quiet_NaN();
  const auto value = node->value<double>();
  if (!value || *value < 0 || *value > 1) {
    throw ConfigError(fmt::format("{}.{}: expected an accuracy between 0 and 1", where, key));
  }
  return *value;
}

void check_keys(const toml::table& table, const std::set<std::string>& known,
                const std::string& where) {
  for (const auto& [key, unused] : table) {
    if (!known.count(std::string(key.str()))) {
      throw ConfigError(fmt::format("{}: unknown key '{}' (expected {})", where, key.str(),
                                    fmt::join(known, ", ")));
    }
  }
}

bool plain_name(const std::string& name) {
  if (name.empty() || name == "." || name == "..") return false;
  return name.find_first_of("/\\") == std::string::npos;
}

}  // namespace

StudySpec parse_study(const std::string& text, const std::string& source,
                      const fs::path& base_dir) {
  toml::table root = parse_toml(text, source);
  check_keys(root, {"name", "title", "parts"}, source);
  StudySpec spec;
  spec.name = required_string(root, "name", source);
  if (!plain_name(spec.name)) {
    throw ConfigError(
        fmt::format("{}: name: expected a name without '/', found '{}'", source, spec.name));
  }
  spec.title = root["title"].value_or(spec.name);
  const auto* parts = root.get_as<toml::array>("parts");
  if (parts == nullptr || parts->empty()) {
    throw ConfigError(fmt::format("{}: expected at least one [[parts]] table", source));
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < parts->size(); ++i) {
    const std::string where = fmt::format("{}: parts[{}]", source, i);
    const auto* table = parts->get(i)->as_table();
    if (table == nullptr) throw ConfigError(where + ": expected a [[parts]] table");
    check_keys(*table,
               {"name", "title", "config", "preset", "set", "reference_accuracy", "l2",
                "reference_l2_accuracy", "sweep", "sweep_points", "sweep_set", "seeds", "images"},
               where);
    StudyPart part;
    part.name = required_string(*table, "name", where);
    if (!plain_name(part.name) || !names.insert(part.name).second) {
      throw ConfigError(
          fmt::format("{}.name: expected a unique name without '/', found '{}'", where, part.name));
    }
    part.title = (*table)["title"].value_or(part.name);
    const fs::path config = required_string(*table, "config", where);
    part.config = config.is_absolute() ? config : base_dir / config;
    if (const auto preset = (*table)["preset"].value<std::string>()) {
      part.preset = fs::path(*preset).is_absolute() ? fs::path(*preset) : base_dir / *preset;
    } else if (table->contains("preset")) {
      throw ConfigError(where + ".preset: expected the path of a config file");
    }
    part.set = strings(*table, "set", where);
    part.reference_accuracy = optional_number(*table, "reference_accuracy", where);
    part.l2 = strings(*table, "l2", where);
    part.reference_l2_accuracy = optional_number(*table, "reference_l2_accuracy", where);
    part.images = strings(*table, "images", where);
    part.sweep_set = strings(*table, "sweep_set", where);
    if (const toml::node* seeds = table->get("seeds")) {
      const auto* array = seeds->as_array();
      if (array == nullptr || array->empty()) {
        throw ConfigError(where + ".seeds: expected a non-empty list of whole numbers");
      }
      for (const auto& seed : *array) {
        const auto value = seed.value<int64_t>();
        if (!seed.is_integer() || !value || *value < 0) {
          throw ConfigError(where + ".seeds: expected a non-empty list of whole numbers");
        }
        part.seeds.push_back(std::to_string(*value));
      }
    }
    if (const toml::node* sweep = table->get("sweep")) {
      if (!sweep->is_table()) throw ConfigError(where + ".sweep: expected a table of lists");
      part.sweep = read_grid(*sweep->as_table(), where + ".sweep");
    }
    if (const toml::node* points = table->get("sweep_points")) {
      if (!points->is_array() || !part.sweep.empty()) {
        throw ConfigError(where +
                          ".sweep_points: expected [[parts.sweep_points]] tables, and no sweep "
                          "grid beside them");
      }
      part.sweep_points = read_points(*points->as_array(), where + ".sweep_points");
    }
    spec.parts.push_back(std::move(part));
  }
  return spec;
}

StudySpec load_study_file(const fs::path& path) {
  return parse_study(read_config_text(path, "study file"), path.string(), path.parent_path());
}

StudyPlan plan_study(const StudySpec& spec, const fs::path& study_dir,
                     const std::vector<std::string>& extra) {
  StudyPlan plan;
  const StudyDir dir(study_dir);
  for (const auto& part : spec.parts) {
    StudyPartPlan where;
    std::vector<std::string> overrides = part.set;
    overrides.insert(overrides.end(), extra.begin(), extra.end());
    auto named = [&](std::vector<std::string> o, const std::string& name) {
      o.push_back(fmt::format("name=\"{}\"", name));
      return o;
    };
    where.model = plan.runs.size();
    plan.runs.push_back(
        {part.name, part.config, named(overrides, part.name), dir.run(part.name).path()});
    if (!part.sweep.empty() || !part.sweep_points.empty()) {
      SweepSpec sweep;
      const SweepDir sweep_dir = dir.sweep(part.name);
      sweep.name = sweep_dir.path().filename().string();
      sweep.config = part.config;
      sweep.set = overrides;
      sweep.set.insert(sweep.set.end(), part.sweep_set.begin(), part.sweep_set.end());
      sweep.grid = part.sweep;
      sweep.points = part.sweep_points;
      if (!part.seeds.empty()) {
        if (!sweep.grid.empty()) sweep.grid.push_back({"train.seed", part.seeds});
        std::vector<std::vector<std::pair<std::string, std::string>>> seeded;
        for (const auto& point : sweep.points) {
          for (const auto& seed : part.seeds) {
            seeded.push_back(point);
            seeded.back().emplace_back("train.seed", seed);
          }
        }
        sweep.points = std::move(seeded);
      }
      where.points = expand_sweep(sweep);
      for (auto& run : plan_sweep(where.points, part.config, sweep_dir.path())) {
        run.label = sweep.name + "/" + run.label;
        where.sweep.push_back(plan.runs.size());
        plan.runs.push_back(std::move(run));
      }
    }
    if (!part.l2.empty()) {
      std::vector<std::string> l2 = overrides;
      l2.insert(l2.end(), part.l2.begin(), part.l2.end());
      where.l2 = plan.runs.size();
      const std::string name = part.name + "-l2";
      plan.runs.push_back({name, part.config, named(l2, name), dir.run(name).path()});
    }
    if (!part.preset.empty()) {
      const std::string name = part.name + "-preset";
      where.preset = plan.runs.size();
      plan.runs.push_back({name, part.preset, named(overrides, name), dir.run(name).path()});
      if (!part.l2.empty()) {
        std::vector<std::string> l2 = overrides;
        l2.insert(l2.end(), part.l2.begin(), part.l2.end());
        where.preset_l2 = plan.runs.size();
        plan.runs.push_back(
            {name + "-l2", part.preset, named(l2, name + "-l2"), dir.run(name + "-l2").path()});
      }
    }
    plan.parts.push_back(std::move(where));
  }
  return plan;
}

std::vector<std::string> quick_study_overrides() {
  return {"data.train_limit=600", "data.test_limit=300", "train.epochs=1"};
}

}  // namespace cnnlab
