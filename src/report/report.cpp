#include "cnnlab/report/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <set>

#include "cnnlab/analysis/statistics.h"
#include "cnnlab/error.h"
#include "cnnlab/io/atomic_file.h"
#include "cnnlab/report/charts.h"
#include "cnnlab/report/html.h"
#include "page.h"
#include "sections.h"

namespace cnnlab {
namespace fs = std::filesystem;
using nlohmann::json;

using namespace report_html;

namespace {

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
      page::chart_div(confusion);

  html += "<h3>Most confused classes</h3>\n";
  if (run.confused.empty()) html += "<p class=\"note\">No test image was misclassified.</p>\n";
  for (const auto& pair : run.confused) {
    html += fmt::format("<h4>{} taken for {}: {} times</h4><div class=\"grid\">",
                        html_escape(class_name(run, pair.pair.true_class)),
                        html_escape(class_name(run, pair.pair.predicted_class)), pair.pair.count);
    for (const auto& example : pair.examples) {
      html += page::figure(example.png, html_escape(example.caption), "pair", example.caption);
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
      "<h3>Where the model looked</h3><p class=\"note\">Misclassified images. Saliency: the "
      "gradient of the predicted class's score with respect to each pixel, averaged over noisy "
      "copies of the image (SmoothGrad); brighter: a change there moves the score more.";
  if (!run.grad_cam_layer.empty()) {
    html += fmt::format(
        " Grad-CAM: the regions whose feature maps in {} speak for a class (Selvaraju et al., "
        "2017), for the predicted class and for the true one; what the model saw of each.",
        html_escape(run.grad_cam_layer));
  }
  html += "</p>\n<div class=\"grid\">";
  for (const auto& s : run.saliency) {
    const std::string predicted = html_escape(class_name(run, s.item.predicted_class));
    const std::string truth = html_escape(class_name(run, s.item.true_class));
    const std::string caption =
        fmt::format("true {}<br><span class=\"wrong\">pred. {}</span> · {:.2f}", truth, predicted,
                    s.item.probability);
    html += "<div class=\"grid\">" + page::figure(s.image_png, caption, "pic", "test image") +
            page::figure(s.saliency_png, "saliency", "pic", "saliency map");
    if (!s.grad_cam_predicted_png.empty()) {
      html += page::figure(s.grad_cam_predicted_png,
                           "Grad-CAM<br><span class=\"wrong\">" + predicted + "</span>", "pic",
                           "Grad-CAM") +
              page::figure(s.grad_cam_true_png, "Grad-CAM<br>" + truth, "pic", "Grad-CAM");
    }
    html += "</div>";
  }
  html += "</div>\n";

  if (!run.first_layer_filters.empty()) {
    html += fmt::format(
        "<h3>Filters of {}</h3><p class=\"note\">Each kernel stretched to black "
        "(most negative) … white (most positive).</p>\n<div class=\"grid\">",
        html_escape(run.first_layer_name));
    for (const auto& f : run.first_layer_filters) {
      html += page::figure(f.png, html_escape(f.caption), "filter", "filter " + f.caption);
    }
    html += "</div>\n";
  }

  html +=
      "<h3>Feature maps</h3><p class=\"note\">The output of every conv layer (after its "
      "activation) for chosen test images, each channel stretched on its own; a channel marked "
      "0 is zero everywhere on this image (its ReLU never fires), shown grey.</p>\n";
  html += feature_maps_html(run);

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
  Chart over_time = accuracy_over_time_chart(runs);
  if (!over_time.id.empty()) charts.shared.push_back(std::move(over_time));
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
  std::vector<std::pair<std::string, std::string>> nav{
      {"runs", "Runs"}, {"training", "Training"}, {"weights", "Weights"}, {"classes", "Classes"}};
  for (std::size_t i = 0; i < runs.size(); ++i) {
    nav.emplace_back(fmt::format("run-{}", i + 1), runs[i].name);
  }
  std::string html = page::begin(title, options.generator(), nav);
  html += "<section id=\"runs\"><h2>Runs</h2>\n" + runs_table(runs) + "</section>\n";
  html +=
      "<section id=\"training\"><h2>Training</h2>\n<h3>Accuracy and loss per epoch</h3>"
      "<p class=\"note\">Solid: on the training batches (averaged over the epoch); dashed: on "
      "the validation set at the epoch's end.</p>\n" +
      page::chart_div("epochs") +
      "<h3>Learning curve</h3><p class=\"note\">Accuracy and loss of every training batch "
      "(iteration).</p>\n" +
      page::chart_div("learning_curve");
  if (has_chart(charts, "accuracy_over_time")) {
    html +=
        "<h3>Test accuracy against wall time</h3><p class=\"note\">From the start of the "
        "training command, data loading included; the last point of each run is its final test, "
        "the others (for runs that validate on the test set) the validation at each epoch's "
        "end.</p>\n" +
        page::chart_div("accuracy_over_time");
  }
  html += "</section>\n";
  html +=
      "<section id=\"weights\"><h2>Weights</h2>\n<h3>At the end of training</h3><p "
      "class=\"note\">Histogram of every kernel and bias; compared runs share the bins.</p>\n" +
      page::chart_div("weights") + weights_table(runs);
  if (has_chart(charts, "weights_per_epoch")) {
    html +=
        "<h3>Epoch by epoch</h3><p class=\"note\">How the weights of one tensor spread as "
        "training went on.</p>\n" +
        page::chart_div("weights_per_epoch");
  }
  html += "</section>\n";
  html += "<section id=\"classes\"><h2>Accuracy per class</h2>\n" +
          page::chart_div("per_class_accuracy") + "</section>\n";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    html += run_section(runs[i], i + 1, charts.per_run[i].id);
  }
  json specs = json::object();
  for (const auto& group : {&charts.shared, &charts.per_run}) {
    for (const auto& chart : *group) specs[chart.id] = chart.spec;
  }
  return html + page::end(specs);
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
                            chart.spec["data"]["values"].dump(
                                -1, ' ', false, nlohmann::json::error_handler_t::replace) +
                                "\n");
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
  write_file_atomically(data_dir / "runs.json",
                        index.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  write_file_atomically(out, render(named, charts, options));
  return data_dir;
}

}  // namespace cnnlab
