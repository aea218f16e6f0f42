#include "cnnlab/report/sweep_page.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <map>
#include <set>

#include "cnnlab/io/atomic_file.h"
#include "cnnlab/report/html.h"
#include "cnnlab/run/run_dir.h"
#include "page.h"
#include "sections.h"

namespace cnnlab {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace report_html;

namespace {

constexpr const char* kSeedKey = "train.seed";

std::string shown_value(const std::string& text) {
  if (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') &&
      text.back() == text.front()) {
    return text.substr(1, text.size() - 2);
  }
  return text;
}

std::string last_part(const std::string& key) {
  const auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

// Axes are named by their keys' last parts ("kernel"), or whole keys where those repeat, as the
// points' labels are.
std::map<std::string, std::string> axis_names(const std::vector<SweepResult>& results) {
  std::map<std::string, std::set<std::string>> keys_by_part;
  for (const auto& result : results) {
    for (const auto& [key, value] : result.point.values) keys_by_part[last_part(key)].insert(key);
  }
  std::map<std::string, std::string> names;
  for (const auto& [part, keys] : keys_by_part) {
    for (const auto& key : keys) names[key] = keys.size() > 1 ? key : part;
  }
  return names;
}

double metric(const json& metrics, const char* key) {
  if (!metrics.is_object() || !metrics.contains(key) || !metrics[key].is_number()) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return metrics[key].get<double>();
}

double seconds_per_epoch(const json& metrics) {
  const double epochs = metric(metrics, "epochs");
  return epochs > 0 ? metric(metrics, "train_seconds") / epochs
                    : std::numeric_limits<double>::quiet_NaN();
}

std::string fixed(double value, const char* format, const char* missing = "–") {
  return std::isfinite(value) ? fmt::format(fmt::runtime(format), value) : missing;
}

}  // namespace

std::vector<SweepGroup> group_sweep(const std::vector<SweepResult>& results) {
  const auto names = axis_names(results);
  std::vector<SweepGroup> groups;
  for (std::size_t i = 0; i < results.size(); ++i) {
    std::vector<std::pair<std::string, std::string>> values;
    std::vector<std::string> parts;
    for (const auto& [key, value] : results[i].point.values) {
      if (key == kSeedKey) continue;
      values.emplace_back(names.at(key), shown_value(value));
      parts.push_back(names.at(key) + "=" + shown_value(value));
    }
    const std::string label = parts.empty() ? "all" : fmt::format("{}", fmt::join(parts, ","));
    auto group = std::find_if(groups.begin(), groups.end(),
                              [&](const SweepGroup& g) { return g.label == label; });
    if (group == groups.end()) {
      SweepGroup fresh;
      fresh.label = label;
      fresh.values = values;
      groups.push_back(std::move(fresh));
      group = std::prev(groups.end());
    }
    group->members.push_back(i);
  }
  for (auto& group : groups) {
    std::vector<double> accuracies, seconds;
    for (const std::size_t i : group.members) {
      const RunOutcome& outcome = results[i].outcome;
      const double accuracy = metric(outcome.metrics, "test_accuracy");
      if (std::isfinite(accuracy)) accuracies.push_back(accuracy);
      const double s = seconds_per_epoch(outcome.metrics);
      if (std::isfinite(s)) seconds.push_back(s);
      const double params = metric(outcome.metrics, "params");
      if (std::isfinite(params)) group.params = params;
      if (!outcome.error.empty()) {
        group.errors.push_back(fmt::format("{}: {}", results[i].point.label, outcome.error));
      }
    }
    group.finished = static_cast<int64_t>(accuracies.size());
    if (!accuracies.empty()) {
      double sum = 0;
      for (const double a : accuracies) sum += a;
      group.mean_accuracy = sum / accuracies.size();
      double squares = 0;
      for (const double a : accuracies)
        squares += (a - group.mean_accuracy) * (a - group.mean_accuracy);
      group.stdev_accuracy =
          accuracies.size() > 1 ? std::sqrt(squares / (accuracies.size() - 1)) : 0;
    }
    if (!seconds.empty()) {
      double sum = 0;
      for (const double s : seconds) sum += s;
      group.seconds_per_epoch = sum / seconds.size();
    }
  }
  return groups;
}

Chart sweep_chart(const std::vector<SweepGroup>& groups, const std::string& id) {
  json values = json::array();
  std::string x_title = "point";
  std::vector<std::string> x_order;
  bool several_seeds = false;
  for (const auto& group : groups) {
    if (!std::isfinite(group.mean_accuracy)) continue;
    std::string x = group.label, series = "";
    if (!group.values.empty()) {
      x_title = group.values[0].first;
      x = group.values[0].second;
      std::vector<std::string> rest;
      for (std::size_t i = 1; i < group.values.size(); ++i) {
        rest.push_back(group.values[i].first + "=" + group.values[i].second);
      }
      series = fmt::format("{}", fmt::join(rest, ","));
    }
    if (std::find(x_order.begin(), x_order.end(), x) == x_order.end()) x_order.push_back(x);
    several_seeds = several_seeds || group.finished > 1;
    values.push_back({{"x", x},
                      {"series", series.empty() ? "test accuracy" : series},
                      {"accuracy", group.mean_accuracy},
                      {"low", group.mean_accuracy - group.stdev_accuracy},
                      {"high", group.mean_accuracy + group.stdev_accuracy},
                      {"runs", group.finished},
                      {"point", group.label}});
  }
  const json x = {{"field", "x"},
                  {"type", "ordinal"},
                  {"title", x_title},
                  {"sort", x_order},
                  {"axis", {{"labelAngle", 0}}}};
  const json color = {{"field", "series"}, {"type", "nominal"}, {"title", nullptr}};
  json layers = json::array();
  layers.push_back(
      {{"mark", {{"type", "line"}, {"point", true}}},
       {"encoding",
        {{"x", x},
         {"y",
          {{"field", "accuracy"},
           {"type", "quantitative"},
           {"title", several_seeds ? "test accuracy (mean ± sd over seeds)" : "test accuracy"},
           {"scale", {{"zero", false}}}}},
         {"color", color},
         {"tooltip",
          {{{"field", "point"}, {"type", "nominal"}},
           {{"field", "accuracy"}, {"type", "quantitative"}, {"format", ".4f"}},
           {{"field", "runs"}, {"type", "quantitative"}}}}}}});
  if (several_seeds) {
    layers.push_back({{"mark", {{"type", "rule"}}},
                      {"encoding",
                       {{"x", x},
                        {"y", {{"field", "low"}, {"type", "quantitative"}}},
                        {"y2", {{"field", "high"}}},
                        {"color", color}}}});
  }
  json spec = {{"$schema", "https://vega.github.io/schema/vega-lite/v6.json"},
               {"data", {{"values", values}}},
               {"width", 420},
               {"height", 260},
               {"layer", layers},
               {"config", {{"view", {{"stroke", "transparent"}}}, {"axis", {{"grid", true}}}}}};
  return Chart{id, spec};
}

std::string sweep_table_html(const std::vector<SweepResult>& results,
                             const std::vector<SweepGroup>& groups, const fs::path& page_dir) {
  std::string html = "<table><tr>";
  if (!groups.empty()) {
    for (const auto& [name, value] : groups[0].values) {
      html += fmt::format("<th>{}</th>", html_escape(name));
    }
  }
  html +=
      "<th>test accuracy</th><th>runs</th><th>parameters</th><th>s / epoch</th>"
      "<th>reports</th></tr>\n";
  for (const auto& group : groups) {
    html += "<tr>";
    for (const auto& [name, value] : group.values) {
      html += fmt::format("<td class=\"num\">{}</td>", html_escape(value));
    }
    std::string accuracy = fixed(group.mean_accuracy, "{:.4f}");
    if (group.finished > 1) accuracy += fmt::format(" ± {:.4f}", group.stdev_accuracy);
    std::string links;
    for (const std::size_t i : group.members) {
      const RunOutcome& outcome = results[i].outcome;
      const fs::path report = RunDir(outcome.run.run_dir).report();
      const std::string text = group.members.size() > 1 ? results[i].point.label : "report";
      if (!links.empty()) links += " · ";
      if (fs::exists(report)) {
        links += fmt::format("<a href=\"{}\">{}</a>",
                             html_escape(report.lexically_relative(page_dir).generic_string()),
                             html_escape(text));
      } else {
        links += fmt::format("<span class=\"wrong\">{}: {}</span>", html_escape(text),
                             html_escape(run_status_name(outcome.status)));
      }
    }
    html += fmt::format(
        "<td class=\"num\">{}</td><td class=\"num\">{} of {}</td><td class=\"num\">{}</td>"
        "<td class=\"num\">{}</td><td>{}</td></tr>\n",
        accuracy, group.finished, group.members.size(), fixed(group.params, "{:.0f}"),
        fixed(group.seconds_per_epoch, "{:.1f}"), links);
  }
  html += "</table>\n";
  for (const auto& group : groups) {
    for (const auto& error : group.errors) {
      html += fmt::format("<p class=\"note wrong\">{}</p>\n", html_escape(error));
    }
  }
  return html;
}

std::string sweep_csv(const std::vector<SweepResult>& results) {
  std::vector<std::string> keys;
  for (const auto& result : results) {
    for (const auto& [key, value] : result.point.values) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    }
  }
  std::string csv = "label";
  for (const auto& key : keys) csv += "," + csv_field(key);
  csv += ",status,test_accuracy,test_loss,params,seconds_per_epoch,run_dir,error\n";
  for (const auto& result : results) {
    csv += csv_field(result.point.label);
    for (const auto& key : keys) {
      const auto it = std::find_if(result.point.values.begin(), result.point.values.end(),
                                   [&](const auto& kv) { return kv.first == key; });
      csv += "," + (it == result.point.values.end() ? "" : csv_field(shown_value(it->second)));
    }
    const json& m = result.outcome.metrics;
    csv += fmt::format(
        ",{},{},{},{},{},{},{}\n", run_status_name(result.outcome.status),
        fixed(metric(m, "test_accuracy"), "{:.6f}", ""),
        fixed(metric(m, "test_loss"), "{:.6f}", ""), fixed(metric(m, "params"), "{:.0f}", ""),
        fixed(seconds_per_epoch(m), "{:.3f}", ""), csv_field(result.outcome.run.run_dir.string()),
        csv_field(result.outcome.error));
  }
  return csv;
}

void write_sweep_page(const std::string& name, const std::vector<SweepResult>& results,
                      const fs::path& out) {
  const fs::path dir = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  const auto groups = group_sweep(results);
  const Chart chart = sweep_chart(groups, "sweep");
  const std::string table_name = SweepDir(dir).table().filename().string();
  std::string html =
      page::begin("cnnlab sweep: " + name, "cnnlab", {{"accuracy", "Accuracy"}, {"runs", "Runs"}});
  html += "<section id=\"accuracy\"><h2>Test accuracy</h2>\n" + page::chart_div(chart.id) +
          "</section>\n<section id=\"runs\"><h2>Runs</h2>\n" +
          sweep_table_html(results, groups, dir) +
          "<p class=\"note\">Every run as CSV: <a href=\"" + table_name + "\">" + table_name +
          "</a>.</p></section>\n";
  html += page::end(json{{chart.id, chart.spec}});
  write_file_atomically(SweepDir(dir).table(), sweep_csv(results));
  write_file_atomically(out, html);
}

}  // namespace cnnlab
