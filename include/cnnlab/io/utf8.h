#pragma once

#include <string>
#include <string_view>

namespace cnnlab {

/// Whether `text` is well-formed UTF-8 (no stray continuation bytes, overlong forms, surrogates
/// or code points past U+10FFFF).
bool is_valid_utf8(std::string_view text);

/// `text` with every byte that is not part of well-formed UTF-8 replaced by U+FFFD, as browsers
/// show it: folder and file names on Linux are bytes, but pages, JSON and TOML need UTF-8.
std::string valid_utf8(std::string_view text);

}  // namespace cnnlab
