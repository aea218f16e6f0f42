#pragma once

#include <string_view>

// The files a report inlines, compiled into the library so that a report needs nothing at run
// time: Vega, Vega-Lite and vega-embed (installed from the npm registry by the set-up script,
// versions pinned in web/package-lock.json), and the page's own style sheet and script.
namespace cnnlab::report_assets {

std::string_view vega_js();
std::string_view vega_lite_js();
std::string_view vega_embed_js();
std::string_view page_css();
std::string_view page_js();

}  // namespace cnnlab::report_assets
