#include "sections.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "cnnlab/analysis/statistics.h"
#include "cnnlab/report/html.h"
#include "page.h"

namespace cnnlab::report_html {
using nlohmann::json;

std::string duration(double seconds) {
  if (!(seconds > 0)) return "–";
  const auto total = static_cast<int64_t>(std::lround(seconds));
  if (total < 60) return fmt::format("{:.1f} s", seconds);
  if (total < 3600) return fmt::format("{} min {} s", total / 60, total % 60);
  return fmt::format("{} h {} min", total / 3600, (total % 3600) / 60);
}

std::string number(const json& metrics, const char* key, const char* format) {
  if (!metrics.is_object() || !metrics.contains(key) || !metrics[key].is_number()) return "–";
  return fmt::format(fmt::runtime(format), metrics[key].get<double>());
}

std::string text_of(const json& metrics, const char* key) {
  if (!metrics.is_object() || !metrics.contains(key)) return "–";
  const auto& v = metrics[key];
  if (v.is_number_integer()) {
    // Thousands separated by a thin space: 225 226.
    std::string digits = std::to_string(v.get<int64_t>()), grouped;
    for (std::size_t i = 0; i < digits.size(); ++i) {
      if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') grouped += "\u2009";
      grouped += digits[i];
    }
    return grouped;
  }
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string class_name(const RunAnalysis& run, int64_t label) {
  return label >= 0 && label < static_cast<int64_t>(run.class_names.size()) ? run.class_names[label]
                                                                            : std::to_string(label);
}

std::string gallery(const RunAnalysis& run, const std::vector<GalleryItem>& items,
                    const std::vector<std::string>& pngs, bool right) {
  if (items.empty()) return "<p class=\"note\">None.</p>\n";
  std::string html = "<div class=\"grid\">";
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& item = items[i];
    const std::string truth = html_escape(class_name(run, item.true_class));
    const std::string guess = html_escape(class_name(run, item.predicted_class));
    const std::string caption =
        right ? fmt::format("<span class=\"right\">{}</span> · {:.2f}", truth, item.probability)
              : fmt::format("true {}<br><span class=\"wrong\">pred. {}</span> · {:.2f}", truth,
                            guess, item.probability);
    html += page::figure(
        pngs[i], caption, "pic",
        fmt::format("test image {}: true {}, predicted {}", item.index,
                    class_name(run, item.true_class), class_name(run, item.predicted_class)));
  }
  return html + "</div>\n";
}

// The epochs a run trained, and what early stopping made of them: "7 · stopped early · best 4
// (val_loss), weights restored".
std::string epochs_cell(const json& metrics) {
  std::string cell = text_of(metrics, "epochs");
  if (!metrics.is_object() || !metrics.contains("early_stopping") ||
      !metrics["early_stopping"].is_object()) {
    return cell;
  }
  const json& stopping = metrics["early_stopping"];
  if (stopping.value("stopped_epoch", int64_t{0}) > 0) cell += " · stopped early";
  if (const int64_t best = stopping.value("best_epoch", int64_t{0}); best > 0) {
    cell += fmt::format(" · best {} ({})", best, stopping.value("monitor", std::string("?")));
  }
  if (stopping.value("restored_best_weights", false)) cell += ", weights restored";
  return cell;
}

std::string runs_table(const std::vector<RunAnalysis>& runs) {
  std::string html =
      "<table><tr><th>run</th><th>dataset</th><th>test accuracy</th><th>test loss</th>"
      "<th>best val. accuracy</th><th>epochs</th><th>parameters</th><th>training time</th>"
      "<th>images/s</th><th>threads</th><th>precision</th><th>machine</th><th>directory</th>"
      "</tr>\n";
  for (const auto& run : runs) {
    const json& m = run.metrics;
    std::string machine = "–";
    if (m.is_object() && m.contains("machine") && m["machine"].is_object()) {
      const json& mm = m["machine"];
      machine = fmt::format("{} · {} cores · LibTorch {}", mm.value("cpu", "?"),
                            mm.value("cores", 0), mm.value("libtorch", "?"));
      // A GPU run names its GPU first; a distributed run its number of processes.
      const std::string device = m.value("device", std::string("cpu"));
      if (device != "cpu") machine = device + " · " + machine;
      const int64_t processes = m.value("processes", int64_t{1});
      if (processes > 1) machine += fmt::format(" · {} processes", processes);
    }
    const std::string seconds =
        m.is_object() && m.contains("train_seconds") && m["train_seconds"].is_number()
            ? duration(m["train_seconds"].get<double>())
            : "–";
    html += fmt::format(
        "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
        "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
        "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td></tr>\n",
        html_escape(run.name), html_escape(run.dataset), number(m, "test_accuracy", "{:.4f}"),
        number(m, "test_loss", "{:.4f}"), number(m, "best_val_accuracy", "{:.4f}"),
        html_escape(epochs_cell(m)), text_of(m, "params"), seconds,
        number(m, "train_images_per_second", "{:.0f}"), text_of(m, "threads"),
        html_escape(text_of(m, "precision")), html_escape(machine),
        html_escape(run.run_dir.string()));
  }
  html += "</table>\n";
  if (std::any_of(runs.begin(), runs.end(), [](const auto& r) { return r.metrics.is_null(); })) {
    html +=
        "<p class=\"note\">A run without metrics has not finished training; its figures show "
        "what it has so far.</p>\n";
  }
  return html;
}

std::string weights_table(const std::vector<RunAnalysis>& runs) {
  std::vector<std::string> names;
  for (const auto& run : runs) {
    for (const auto& w : run.weights) {
      if (std::find(names.begin(), names.end(), w.name) == names.end()) names.push_back(w.name);
    }
  }
  std::string html = "<table><tr><th>weights</th>";
  for (const auto& run : runs) {
    html += fmt::format("<th>{0}: std</th><th>{0}: share |w| ≤ {1}</th>", html_escape(run.name),
                        kNearZero);
  }
  html += "</tr>\n";
  for (const auto& name : names) {
    html += fmt::format("<tr><td>{}</td>", html_escape(name));
    for (const auto& run : runs) {
      const auto w = std::find_if(run.weights.begin(), run.weights.end(),
                                  [&](const auto& x) { return x.name == name; });
      if (w == run.weights.end()) {
        html += "<td></td><td></td>";
        continue;
      }
      const double spread = w->values.numel() > 1 ? w->values.std().item<double>() : 0.0;
      html += fmt::format("<td class=\"num\">{:.4f}</td><td class=\"num\">{:.1f}%</td>", spread,
                          100 * fraction_within(w->values, kNearZero));
    }
    html += "</tr>\n";
  }
  return html + "</table>\n";
}

std::string feature_maps_html(const RunAnalysis& run, std::size_t max_images) {
  std::string html;
  std::size_t shown = 0;
  for (const auto& image : run.feature_maps) {
    if (shown++ == max_images) break;
    html += fmt::format(
        "<div class=\"fm\" data-test-index=\"{}\"><h4>Test image {}: {}, predicted {} ({:.2f})"
        "</h4><div class=\"grid\">{}</div>\n",
        image.index, image.index, html_escape(class_name(run, image.true_class)),
        html_escape(class_name(run, image.predicted_class)), image.probability,
        page::figure(image.png, "input", "pic", "input image"));
    for (const auto& layer : image.layers) {
      const auto silent = std::count(layer.silent.begin(), layer.silent.end(), true);
      html += fmt::format(
          "<details open><summary>{} — {} × {} × {}{}</summary><div class=\"grid\">",
          html_escape(layer.layer), layer.shape[0], layer.shape[1], layer.shape[2],
          silent == 0 ? std::string()
                      : fmt::format(" · {} of {} channels all zero", silent, layer.shape[0]));
      for (std::size_t c = 0; c < layer.channel_pngs.size(); ++c) {
        const bool off = c < layer.silent.size() && layer.silent[c];
        html +=
            page::figure(layer.channel_pngs[c], off ? fmt::format("{} · 0", c) : std::to_string(c),
                         "map", fmt::format("{} channel {}", layer.layer, c));
      }
      html += "</div></details>\n";
    }
    html += "</div>\n";
  }

  return html;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace cnnlab::report_html
