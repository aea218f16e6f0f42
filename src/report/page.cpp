#include "page.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <ctime>

#include "assets.h"
#include "cnnlab/report/html.h"

namespace cnnlab::page {

namespace {

// The page may run inline scripts (the libraries and its own) and evaluate Vega expressions, and
// show data: and blob: pictures; it may fetch nothing.
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:";

}  // namespace

std::string begin(const std::string& title, const std::string& generator,
                  const std::vector<std::pair<std::string, std::string>>& nav) {
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"generator\" content=\"{}\">\n<title>{}</title>\n<style>\n{}</style>\n",
      kContentSecurityPolicy, html_escape(generator), html_escape(title),
      report_assets::page_css());
  for (const auto code :
       {report_assets::vega_js(), report_assets::vega_lite_js(), report_assets::vega_embed_js()}) {
    html += "<script>" + inline_script(code) + "\n</script>\n";
  }
  html += fmt::format(
      "</head>\n<body>\n<header><h1>{}</h1><p>Written {:%Y-%m-%d %H:%M} UTC by {}</p></header>\n"
      "<nav>",
      html_escape(title), fmt::gmtime(std::time(nullptr)), html_escape(generator));
  for (const auto& [anchor, label] : nav) {
    html += fmt::format("<a href=\"#{}\">{}</a>", html_escape(anchor), html_escape(label));
  }
  return html + "</nav>\n<main>\n";
}

std::string end(const nlohmann::json& specs) {
  return "</main>\n<script type=\"application/json\" id=\"cnnlab-charts\">" +
         json_for_script(specs) + "</script>\n<script>" + inline_script(report_assets::page_js()) +
         "</script>\n</body></html>\n";
}

std::string chart_div(const std::string& id) {
  return fmt::format("<div class=\"chart\" id=\"chart-{0}\" data-chart=\"{0}\"></div>\n",
                     html_escape(id));
}

std::string figure(const std::string& png, const std::string& caption_html,
                   const std::string& css_class, const std::string& alt) {
  return fmt::format(
      "<figure class=\"{}\"><img src=\"{}\" alt=\"{}\"><figcaption>{}</figcaption></figure>",
      css_class, png_data_url(png), html_escape(alt), caption_html);
}

}  // namespace cnnlab::page
