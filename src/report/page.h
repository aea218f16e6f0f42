#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

// The frame shared by cnnlab's HTML pages (run reports, sweep and study pages): head with the
// inlined charting libraries and style, header, navigation, and the script that draws the charts.
namespace cnnlab::page {

/// Everything up to and including <main>. nav: (anchor id, label) pairs; all text is escaped.
std::string begin(const std::string& title, const std::string& generator,
                  const std::vector<std::pair<std::string, std::string>>& nav);

/// Closes <main> and the page; `specs` maps chart ids to Vega-Lite specs.
std::string end(const nlohmann::json& specs);

/// A placeholder that page.js fills with the chart `id`.
std::string chart_div(const std::string& id);

/// A picture with a caption; `caption_html` is inserted as is, `alt` is escaped.
std::string figure(const std::string& png, const std::string& caption_html,
                   const std::string& css_class, const std::string& alt);

}  // namespace cnnlab::page
