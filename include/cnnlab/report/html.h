#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace cnnlab {

/// `text` with & < > " ' replaced by entities, safe as HTML text and inside quoted attributes;
/// bytes that are not UTF-8 become U+FFFD, so the page stays valid UTF-8.
std::string html_escape(std::string_view text);

/// Standard base64 (RFC 4648, with padding), for data: URLs.
std::string base64_encode(std::string_view bytes);

/// A data: URL of PNG bytes, for <img src>.
std::string png_data_url(std::string_view png);

/// `value` as JSON that may sit inside <script type="application/json">: every '<' is written
/// as \u003c, so no string in it (a class named "</script>") can end the script element.
std::string json_for_script(const nlohmann::json& value);

/// `code` made safe to inline in a <script> element: "</script" becomes "<\/script" (the same
/// string to JavaScript), and a trailing source-map comment, which would make developer tools
/// ask for a file that does not exist, is dropped.
std::string inline_script(std::string_view code);

}  // namespace cnnlab
