#include "cnnlab/report/report.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <cmath>
#include <ctime>
#include <set>

#include "assets.h"
#include "cnnlab/analysis/statistics.h"
#include "cnnlab/error.h"
#include "cnnlab/io/atomic_file.h"
#include "cnnlab/report/charts.h"
#include "cnnlab/report/html.h"

namespace cnnlab {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The page may run inline scripts (the libraries and its own) and evaluate Vega expressions, and
// show data: and blob: pictures; it may fetch nothing.
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:";

// |w| at or below this counts as "near zero" in the weights table (L2 pulls weights there).
constexpr double kNearZero = 0.05;

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
    html += figure(
        pngs[i], caption, "pic",
        fmt::format("test image {}: true {}, predicted {}", item.index,
                    class_name(run, item.true_class), class_name(run, item.predicted_class)));
  }
  return html + "</div>\n";
}

std::string runs_table(const std::vector<RunAnalysis>& runs) {
  std::string html =
      "<table><tr><th>run</th><th>dataset</th><th>test accuracy</th><th>test loss</th>"
      "<th>best val. accuracy</th><th>epochs</th><th>parameters</th><th>training time</th>"
      "<th>images/s</th><th>threads</th><th>machine</th><th>directory</th></tr>\n";
  for (const auto& run : runs) {
    const json& m = run.metrics;
    std::string machine = "–";
    if (m.is_object() && m.contains("machine") && m["machine"].is_object()) {
      const json& mm = m["machine"];
      machine = fmt::format("{} · {} cores · LibTorch {}", mm.value("cpu", "?"),
                            mm.value("cores", 0), mm.value("libtorch", "?"));
    }
    const std::string seconds =
        m.is_object() && m.contains("train_seconds") && m["train_seconds"].is_number()
            ? duration(m["train_seconds"].get<double>())
            : "–";
    html += fmt::format(
        "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
        "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
        "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>"
        "<td>{}</td></tr>\n",
        html_escape(run.name), html_escape(run.dataset), number(m, "test_accuracy", "{:.4f}"),
        number(m, "test_loss", "{:.4f}"), number(m, "best_val_accuracy", "{:.4f}"),
        text_of(m, "epochs"), text_of(m, "params"), seconds,
        number(m, "train_images_per_second", "{:.0f}"), text_of(m, "threads"), html_escape(machine),
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

std::string run_section(const RunAnalysis& run, std::size_t index, const std::string& confusion) {
  std::string html =
      fmt::format("<section id=\"run-{}\"><h2>{}</h2>\n", index, html_escape(run.name));
  html += fmt::format(
      "<p class=\"note\">{} · analysed on {} test images · accuracy {:.4f} ({} wrong)</p>\n",
      html_escape(run.run_dir.string()), run.test_count, run.test_accuracy,
      run.test_count - static_cast<int64_t>(std::llround(run.test_accuracy * run.test_count)));

  html +=
      "<h3>Confusion matrix</h3><p class=\"note\">Rows: true class; columns: predicted "
      "class; colour: share of the true class.</p>\n" +
      chart_div(confusion);

  html += "<h3>Most confused classes</h3>\n";
  if (run.confused.empty()) html += "<p class=\"note\">No test image was misclassified.</p>\n";
  for (const auto& pair : run.confused) {
    html += fmt::format("<h4>{} taken for {}: {} times</h4><div class=\"grid\">",
                        html_escape(class_name(run, pair.pair.true_class)),
                        html_escape(class_name(run, pair.pair.predicted_class)), pair.pair.count);
    for (const auto& example : pair.examples) {
      html += figure(example.png, html_escape(example.caption), "pair", example.caption);
    }
    html += "</div>\n";
  }

  html += fmt::format(
      "<h3>Wrongly classified test images</h3><p class=\"note\">The {} most confident mistakes "
      "first, with the probability of the predicted class.</p>\n",
      run.wrong.size());
  html += gallery(run, run.wrong, run.wrong_pngs, false);
  html +=
      "<h3>Correctly classified test images</h3><p class=\"note\">In test-set order, with the "
      "probability of the class.</p>\n";
  html += gallery(run, run.right, run.right_pngs, true);

  html +=
      "<h3>Where the model looked</h3><p class=\"note\">Saliency of misclassified images: the "
      "gradient of the predicted class's score with respect to each pixel, averaged over noisy "
      "copies of the image (SmoothGrad); brighter: a change there moves the score more.</p>\n"
      "<div class=\"grid\">";
  for (const auto& s : run.saliency) {
    const std::string caption =
        fmt::format("true {}<br><span class=\"wrong\">pred. {}</span> · {:.2f}",
                    html_escape(class_name(run, s.item.true_class)),
                    html_escape(class_name(run, s.item.predicted_class)), s.item.probability);
    html += "<div class=\"grid\">" + figure(s.image_png, caption, "pic", "test image") +
            figure(s.saliency_png, "saliency", "pic", "saliency map") + "</div>";
  }
  html += "</div>\n";

  if (!run.first_layer_filters.empty()) {
    html += fmt::format(
        "<h3>Filters of {}</h3><p class=\"note\">Each kernel stretched to black "
        "(most negative) … white (most positive).</p>\n<div class=\"grid\">",
        html_escape(run.first_layer_name));
    for (const auto& f : run.first_layer_filters) {
      html += figure(f.png, html_escape(f.caption), "filter", "filter " + f.caption);
    }
    html += "</div>\n";
  }

  html +=
      "<h3>Feature maps</h3><p class=\"note\">The output of every conv layer (after its "
      "activation) for chosen test images, each channel stretched on its own; a channel marked "
      "0 is zero everywhere on this image (its ReLU never fires), shown grey.</p>\n";
  for (const auto& image : run.feature_maps) {
    html += fmt::format(
        "<div class=\"fm\" data-test-index=\"{}\"><h4>Test image {}: {}, predicted {} ({:.2f})"
        "</h4><div class=\"grid\">{}</div>\n",
        image.index, image.index, html_escape(class_name(run, image.true_class)),
        html_escape(class_name(run, image.predicted_class)), image.probability,
        figure(image.png, "input", "pic", "input image"));
    for (const auto& layer : image.layers) {
      const auto silent = std::count(layer.silent.begin(), layer.silent.end(), true);
      html += fmt::format(
          "<details open><summary>{} — {} × {} × {}{}</summary><div class=\"grid\">",
          html_escape(layer.layer), layer.shape[0], layer.shape[1], layer.shape[2],
          silent == 0 ? std::string()
                      : fmt::format(" · {} of {} channels all zero", silent, layer.shape[0]));
      for (std::size_t c = 0; c < layer.channel_pngs.size(); ++c) {
        const bool off = c < layer.silent.size() && layer.silent[c];
        html += figure(layer.channel_pngs[c], off ? fmt::format("{} · 0", c) : std::to_string(c),
                       "map", fmt::format("{} channel {}", layer.layer, c));
      }
      html += "</div></details>\n";
    }
    html += "</div>\n";
  }

  html += fmt::format("<details><summary>Model summary</summary><pre>{}</pre></details>\n",
                      html_escape(run.summary_text));
  html += fmt::format("<details><summary>Resolved config</summary><pre>{}</pre></details>\n",
                      html_escape(run.config_text));
  return html + "</section>\n";
}

// Runs that share a name (two runs of one config) are told apart by their directories.
std::vector<RunAnalysis> with_distinct_names(std::vector<RunAnalysis> runs) {
  std::set<std::string> seen, repeated;
  for (const auto& run : runs) {
    if (!seen.insert(run.name).second) repeated.insert(run.name);
  }
  for (auto& run : runs) {
    if (repeated.count(run.name)) run.name = run.run_dir.filename().string();
  }
  seen.clear();
  for (auto& run : runs) {
    std::string name = run.name;
    for (int i = 2; !seen.insert(name).second; ++i) name = fmt::format("{} ({})", run.name, i);
    run.name = name;
  }
  return runs;
}

struct PageCharts {
  std::vector<Chart> shared;
  std::vector<Chart> per_run;  // confusion matrices, in run order
};

PageCharts build_charts(const std::vector<RunAnalysis>& runs, const ReportOptions& options) {
  PageCharts charts;
  charts.shared.push_back(epoch_curves_chart(runs));
  charts.shared.push_back(learning_curve_chart(runs));
  charts.shared.push_back(weight_histogram_chart(runs, options.histogram_bins()));
  Chart per_epoch = epoch_weight_chart(runs);
  if (!per_epoch.id.empty()) charts.shared.push_back(std::move(per_epoch));
  charts.shared.push_back(per_class_chart(runs));
  for (std::size_t i = 0; i < runs.size(); ++i) {
    charts.per_run.push_back(confusion_chart(runs[i], fmt::format("confusion_{}", i + 1)));
  }
  return charts;
}

bool has_chart(const PageCharts& charts, const std::string& id) {
  return std::any_of(charts.shared.begin(), charts.shared.end(),
                     [&](const Chart& c) { return c.id == id; });
}

std::string render(const std::vector<RunAnalysis>& runs, const PageCharts& charts,
                   const ReportOptions& options) {
  std::vector<std::string> names;
  for (const auto& run : runs) names.push_back(run.name);
  const std::string title = options.title().empty()
                                ? fmt::format("cnnlab report: {}", fmt::join(names, " vs "))
                                : options.title();
  const std::time_t now = std::time(nullptr);
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"generator\" content=\"{}\">\n<title>{}</title>\n<style>\n{}</style>\n",
      kContentSecurityPolicy, html_escape(options.generator()), html_escape(title),
      report_assets::page_css());
  for (const auto code :
       {report_assets::vega_js(), report_assets::vega_lite_js(), report_assets::vega_embed_js()}) {
    html += "<script>" + inline_script(code) + "\n</script>\n";
  }
  html += fmt::format(
      "</head>\n<body>\n<header><h1>{}</h1><p>Written {:%Y-%m-%d %H:%M} UTC by {}"
      "</p></header>\n<nav><a href=\"#runs\">Runs</a><a href=\"#training\">"
      "Training</a><a href=\"#weights\">Weights</a><a href=\"#classes\">Classes"
      "</a>",
      html_escape(title), fmt::gmtime(now), html_escape(options.generator()));
  for (std::size_t i = 0; i < runs.size(); ++i) {
    html += fmt::format("<a href=\"#run-{}\">{}</a>", i + 1, html_escape(runs[i].name));
  }
  html += "</nav>\n<main>\n";

  html += "<section id=\"runs\"><h2>Runs</h2>\n" + runs_table(runs) + "</section>\n";
  html +=
      "<section id=\"training\"><h2>Training</h2>\n<h3>Accuracy and loss per epoch</h3>"
      "<p class=\"note\">Solid: on the training batches (averaged over the epoch); dashed: on "
      "the validation set at the epoch's end.</p>\n" +
      chart_div("epochs") +
      "<h3>Learning curve</h3><p class=\"note\">Accuracy and loss of every training batch "
      "(iteration).</p>\n" +
      chart_div("learning_curve") + "</section>\n";
  html +=
      "<section id=\"weights\"><h2>Weights</h2>\n<h3>At the end of training</h3><p "
      "class=\"note\">Histogram of every kernel and bias; compared runs share the bins.</p>\n" +
      chart_div("weights") + weights_table(runs);
  if (has_chart(charts, "weights_per_epoch")) {
    html +=
        "<h3>Epoch by epoch</h3><p class=\"note\">How the weights of one tensor spread as "
        "training went on.</p>\n" +
        chart_div("weights_per_epoch");
  }
  html += "</section>\n";
  html += "<section id=\"classes\"><h2>Accuracy per class</h2>\n" +
          chart_div("per_class_accuracy") + "</section>\n";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    html += run_section(runs[i], i + 1, charts.per_run[i].id);
  }
  html += "</main>\n";

  json specs = json::object();
  for (const auto& group : {&charts.shared, &charts.per_run}) {
    for (const auto& chart : *group) specs[chart.id] = chart.spec;
  }
  html += "<script type=\"application/json\" id=\"cnnlab-charts\">" + json_for_script(specs) +
          "</script>\n<script>" + inline_script(report_assets::page_js()) +
          "</script>\n</body></html>\n";
  return html;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

void write_run_tables(const RunAnalysis& run, std::size_t index, const fs::path& dir) {
  std::string confusion = "true\\predicted";
  for (const auto& name : run.class_names) confusion += "," + csv_field(name);
  confusion += "\n";
  const auto counts = run.confusion.to(torch::kInt64).contiguous();
  for (int64_t t = 0; t < counts.size(0); ++t) {
    confusion += csv_field(class_name(run, t));
    for (int64_t p = 0; p < counts.size(1); ++p) {
      confusion += fmt::format(",{}", counts[t][p].item<int64_t>());
    }
    confusion += "\n";
  }
  write_file_atomically(dir / fmt::format("confusion_{}.csv", index), confusion);
  std::string wrong = "test_index,true_class,predicted_class,probability\n";
  for (const auto& item : run.wrong) {
    wrong +=
        fmt::format("{},{},{},{:.6f}\n", item.index, csv_field(class_name(run, item.true_class)),
                    csv_field(class_name(run, item.predicted_class)), item.probability);
  }
  write_file_atomically(dir / fmt::format("most_confident_mistakes_{}.csv", index), wrong);
}

}  // namespace

std::string render_report(const std::vector<RunAnalysis>& runs, const ReportOptions& options) {
  if (runs.empty()) throw ConfigError("report: no run to report on");
  const auto named = with_distinct_names(runs);
  return render(named, build_charts(named, options), options);
}

fs::path write_report(const std::vector<RunAnalysis>& runs, const fs::path& out,
                      const ReportOptions& options) {
  if (runs.empty()) throw ConfigError("report: no run to report on");
  const auto named = with_distinct_names(runs);
  const PageCharts charts = build_charts(named, options);
  const fs::path parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  const fs::path data_dir = parent / (out.stem().string() + "_data");
  ensure_writable_directory(data_dir);
  for (const auto& group : {&charts.shared, &charts.per_run}) {
    for (const auto& chart : *group) {
      write_file_atomically(data_dir / (chart.id + ".json"),
                            chart.spec["data"]["values"].dump() + "\n");
    }
  }
  json index = json::array();
  for (std::size_t i = 0; i < named.size(); ++i) {
    write_run_tables(named[i], i + 1, data_dir);
    index.push_back({{"number", i + 1},
                     {"name", named[i].name},
                     {"run_dir", named[i].run_dir.string()},
                     {"test_count", named[i].test_count},
                     {"test_accuracy", named[i].test_accuracy},
                     {"per_class_accuracy", named[i].per_class_accuracy},
                     {"metrics", named[i].metrics}});
  }
  write_file_atomically(data_dir / "runs.json", index.dump(2) + "\n");
  write_file_atomically(out, render(named, charts, options));
  return data_dir;
}

}  // namespace cnnlab
