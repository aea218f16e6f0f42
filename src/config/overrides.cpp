#include "cnnlab/config/overrides.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include "cnnlab/error.h"
#include "cnnlab/models/layer_spec.h"

namespace cnnlab {

namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::string part;
  for (char c : path) {
    if (c == '.') {
      parts.push_back(part);
      part.clear();
    } else {
      part.push_back(c);
    }
  }
  parts.push_back(part);
  return parts;
}

bool is_index(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

// The element of `layers` that `key` names: an index, an explicit name or a default name.
toml::table* find_layer(toml::array& layers, const std::string& key) {
  if (is_index(key)) {
    const auto index = std::stoul(key);
    return index < layers.size() ? layers[index].as_table() : nullptr;
  }
  std::vector<LayerType> types;
  for (auto& node : layers) {
    LayerType type = LayerType::kConv2d;
    if (auto* table = node.as_table()) {
      try {
        type = parse_layer_type(
            table->get("type") ? table->get("type")->value_or(std::string()) : std::string(), "");
      } catch (const ConfigError&) {
        // An unknown type is reported when the config is read; here it just matches no name.
      }
    }
    types.push_back(type);
  }
  const auto defaults = default_layer_names(types);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    auto* table = layers[i].as_table();
    if (table == nullptr) continue;
    const auto* name = table->get("name");
    const std::string explicit_name = name != nullptr ? name->value_or(std::string()) : "";
    if (explicit_name == key || (explicit_name.empty() && defaults[i] == key)) return table;
  }
  return nullptr;
}

}  // namespace

void apply_override(toml::table& config, const std::string& text) {
  const auto equals = text.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw ConfigError(fmt::format("--set {}: expected key=value, e.g. train.epochs=3", text));
  }
  const std::string path = text.substr(0, equals);
  const std::string value = text.substr(equals + 1);
  const auto parts = split_path(path);
  toml::table* table = &config;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string& part = parts[i];
    if (part.empty()) throw ConfigError(fmt::format("--set {}: empty key in '{}'", text, path));
    toml::node* node = table->get(part);
    if (node == nullptr) {
      table->insert(part, toml::table{});
      node = table->get(part);
    }
    if (auto* array = node->as_array()) {
      if (i + 2 >= parts.size()) {
        throw ConfigError(
            fmt::format("--set {}: '{}' is a list; name an element and an option, "
                        "e.g. model.layers.Conv1.kernel=5",
                        text, part));
      }
      table = find_layer(*array, parts[++i]);
      if (table == nullptr) {
        throw ConfigError(fmt::format("--set {}: '{}' has no element '{}'", text, part, parts[i]));
      }
    } else if (auto* child = node->as_table()) {
      table = child;
    } else {
      throw ConfigError(fmt::format("--set {}: '{}' is a value, not a table", text, part));
    }
  }
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", value}};
  }
  table->insert_or_assign(parts.back(), std::move(*parsed.get("v")));
}

toml::table parse_toml(const std::string& text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw ConfigError(fmt::format("{}:{}:{}: invalid TOML: {}", source, e.source().begin.line,
                                  e.source().begin.column, e.description()));
  }
}

std::string read_config_text(const std::filesystem::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("{}: cannot read the {}", path.string(), what));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

namespace {

// Puts `over` on `base`: each value of `over` replaces the one of the same key, except that a
// table meets a table key by key.
void merge_into(toml::table& base, const toml::table& over) {
  for (const auto& [key, value] : over) {
    auto* mine = base.get(key);
    if (mine != nullptr && mine->is_table() && value.is_table()) {
      merge_into(*mine->as_table(), *value.as_table());
    } else {
      base.insert_or_assign(key, value);
    }
  }
}

toml::table read_extended(const std::filesystem::path& path,
                          std::vector<std::filesystem::path>& chain,
                          std::vector<std::filesystem::path>& files) {
  std::error_code ignored;  // a path that cannot be resolved is compared as written
  auto canonical = std::filesystem::weakly_canonical(path, ignored);
  if (canonical.empty()) canonical = path;
  for (const auto& seen : chain) {
    if (seen == canonical) {
      throw ConfigError(fmt::format("{}: extends itself through '{}': a config can extend "
                                    "another, but not in a loop",
                                    chain.front().string(), path.string()));
    }
  }
  chain.push_back(canonical);
  files.push_back(path);
  toml::table table = parse_toml(read_config_text(path, "config file"), path.string());
  const toml::node* extends = table.get("extends");
  if (extends == nullptr) return table;
  const auto base_name = extends->value<std::string>();
  if (!base_name || base_name->empty()) {
    throw ConfigError(fmt::format("{}: extends: expected the path of another config file as a "
                                  "string, such as extends = \"cifar10.toml\"",
                                  path.string()));
  }
  const auto base_path = path.parent_path() / *base_name;
  if (!std::filesystem::is_regular_file(base_path, ignored)) {
    throw ConfigError(fmt::format("{}: extends '{}': no config file at {}", path.string(),
                                  *base_name, base_path.string()));
  }
  toml::table merged = read_extended(base_path, chain, files);
  table.erase("extends");
  merge_into(merged, table);
  return merged;
}

}  // namespace

toml::table read_config_table(const std::filesystem::path& path,
                              std::vector<std::filesystem::path>* files) {
  std::vector<std::filesystem::path> chain, read;
  toml::table table = read_extended(path, chain, read);
  if (files != nullptr) *files = std::move(read);
  return table;
}

}  // namespace cnnlab
