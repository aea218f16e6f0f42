#pragma once

#include <toml++/toml.h>

#include <filesystem>
#include <string>
#include <vector>

namespace cnnlab {

/// Applies one override "a.b.c=value" to a parsed config table, creating tables on the way.
/// The value is read as TOML (3, 0.5, true, "text", [3, 3]); anything that is not valid TOML is
/// taken as a string, so `--set data.dataset=cifar10` needs no quotes. Inside `model.layers`,
/// a layer is addressed by its name (`model.layers.Conv1.kernel=5`, default names included) or
/// its index (`model.layers.0.kernel=5`). Throws ConfigError naming the override when the path
/// does not exist or the text has no '='.
void apply_override(toml::table& config, const std::string& override_text);

/// Parses TOML text; a syntax error becomes a ConfigError "source:line:column: invalid TOML: …".
toml::table parse_toml(const std::string& text, const std::string& source);

/// The contents of a config, sweep or study file; `what` names it in the ConfigError thrown when
/// it cannot be read ("<path>: cannot read the <what>").
std::string read_config_text(const std::filesystem::path& path, const std::string& what);

/// A config file's table with the file it extends folded in. `extends = "base.toml"` (a path
/// relative to the file) starts from every option of that file; the file's own options then
/// replace them, table by table, and an array (such as model.layers) is replaced whole. A base
/// may extend another. Throws ConfigError naming the file for a base that cannot be read, an
/// `extends` that is not a string, and a file that extends itself, directly or not. `files`, when
/// given, receives the files read: `path` first, then each base in turn.
toml::table read_config_table(const std::filesystem::path& path,
                              std::vector<std::filesystem::path>* files = nullptr);

}  // namespace cnnlab
