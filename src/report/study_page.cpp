#include "cnnlab/report/study_page.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "cnnlab/analysis/statistics.h"
#include "cnnlab/io/atomic_file.h"
#include "cnnlab/report/charts.h"
#include "cnnlab/report/html.h"
#include "cnnlab/run/run_dir.h"
#include "page.h"
#include "sections.h"

namespace cnnlab {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace report_html;

namespace {

// The bound of "near zero" in the L2 sentence, as a course report would quote it.
constexpr double kL2Bound = 0.01;
// Accuracy changes below this are "about the same" in the sweep sentence.
constexpr double kFlat = 0.0005;

double accuracy_of(const RunOutcome& outcome) {
  const json& m = outcome.metrics;
  return m.is_object() && m.contains("test_accuracy") && m["test_accuracy"].is_number()
             ? m["test_accuracy"].get<double>()
             : std::numeric_limits<double>::quiet_NaN();
}

std::string accuracy_text(double value) {
  return std::isfinite(value) ? fmt::format("{:.4f}", value) : "–";
}

std::string percent(double fraction) { return fmt::format("{:.1f}%", 100 * fraction); }

// The weight tensor with the most values among the kernels (Dense.weight in the study's models).
const LayerWeights* largest_kernel(const RunAnalysis& run) {
  const LayerWeights* best = nullptr;
  for (const auto& w : run.weights) {
    const bool kernel = w.name.size() > 7 && w.name.compare(w.name.size() - 7, 7, ".weight") == 0;
    if (kernel && (best == nullptr || w.values.numel() > best->values.numel())) best = &w;
  }
  return best;
}

const LayerWeights* weights_named(const RunAnalysis& run, const std::string& name) {
  for (const auto& w : run.weights) {
    if (w.name == name) return &w;
  }
  return nullptr;
}

std::string finding(const std::string& text) {
  return "<p class=\"finding\">" + html_escape(text) + "</p>\n";
}

std::string report_link(const RunOutcome& outcome, const fs::path& page_dir,
                        const std::string& text) {
  const fs::path report = RunDir(outcome.run.run_dir).report();
  if (!fs::exists(report)) return html_escape(text);
  return fmt::format("<a href=\"{}\">{}</a>",
                     html_escape(report.lexically_relative(page_dir).generic_string()),
                     html_escape(text));
}

std::string training_findings(const RunAnalysis& run, double reference) {
  std::string text = fmt::format("Test accuracy {:.4f}", run.test_accuracy);
  if (std::isfinite(reference)) text += fmt::format(" (the study: {:.4f})", reference);
  const auto& epochs = run.history.epochs;
  if (!epochs.empty()) {
    text += fmt::format(" after {} epoch{}", epochs.size(), epochs.size() == 1 ? "" : "s");
    const auto best =
        std::max_element(epochs.begin(), epochs.end(), [](const auto& a, const auto& b) {
          return !(a.val_accuracy >= b.val_accuracy) && std::isfinite(b.val_accuracy);
        });
    if (std::isfinite(best->val_accuracy)) {
      text += fmt::format("; validation accuracy was highest, {:.4f}, after epoch {}",
                          best->val_accuracy, best->epoch);
    }
  }
  text += ".";
  const json& m = run.metrics;
  if (m.is_object() && m.contains("train_seconds") && m["train_seconds"].is_number()) {
    text += fmt::format(" Training took {}", duration(m["train_seconds"].get<double>()));
    if (m.contains("train_images_per_second") && m["train_images_per_second"].is_number()) {
      text += fmt::format(" ({:.0f} images/s)", m["train_images_per_second"].get<double>());
    }
    text += ".";
  }
  return text;
}

std::string examples_findings(const RunAnalysis& run) {
  const int64_t wrong =
      run.test_count - static_cast<int64_t>(std::llround(run.test_accuracy * run.test_count));
  std::string text =
      fmt::format("{} of {} test images were misclassified ({:.2f}%)", wrong, run.test_count,
                  run.test_count > 0 ? 100.0 * wrong / run.test_count : 0.0);
  if (!run.confused.empty()) {
    std::vector<std::string> pairs;
    for (std::size_t i = 0; i < run.confused.size() && i < 3; ++i) {
      const auto& p = run.confused[i].pair;
      pairs.push_back(fmt::format("{} taken for {} ({} times)", class_name(run, p.true_class),
                                  class_name(run, p.predicted_class), p.count));
    }
    text += fmt::format("; the most frequent confusions: {}", fmt::join(pairs, ", "));
  }
  return text + ".";
}

std::string feature_map_findings(const RunAnalysis& run) {
  if (run.feature_maps.empty()) return "The model has no conv layer to show.";
  std::vector<std::string> sentences;
  for (const auto& image : run.feature_maps) {
    std::vector<std::string> layers;
    for (const auto& layer : image.layers) {
      const auto zero = std::count(layer.silent.begin(), layer.silent.end(), true);
      layers.push_back(fmt::format("{} gives {} maps of {}×{} ({} all zero)", layer.layer,
                                   layer.shape[0], layer.shape[1], layer.shape[2], zero));
    }
    sentences.push_back(fmt::format("On test image {} (a {}, predicted {} with {:.2f}): {}.",
                                    image.index, class_name(run, image.true_class),
                                    class_name(run, image.predicted_class), image.probability,
                                    fmt::join(layers, "; ")));
  }
  return fmt::format("{}", fmt::join(sentences, " "));
}

std::string preprocessing_findings(const RunConfig& config) {
  const AugmentOptions& a = config.train.augment();
  std::vector<std::string> steps;
  if (a.rotation_range() > 0) steps.push_back(fmt::format("rotation ±{:g}°", a.rotation_range()));
  if (a.width_shift_range() > 0 || a.height_shift_range() > 0) {
    steps.push_back(fmt::format("shifts ±{:g} of the width and ±{:g} of the height",
                                a.width_shift_range(), a.height_shift_range()));
  }
  if (a.shear_range() > 0) steps.push_back(fmt::format("shear ±{:g}°", a.shear_range()));
  if (a.zoom_range() > 0) {
    steps.push_back(fmt::format("zoom {:g}–{:g} per axis", 1 - a.zoom_range(), 1 + a.zoom_range()));
  }
  if (a.horizontal_flip()) steps.push_back("a left-right flip half the time");
  if (a.vertical_flip()) steps.push_back("an up-down flip half the time");
  if (a.crop_padding() > 0) steps.push_back(fmt::format("crops padded by {} px", a.crop_padding()));
  if (a.cutout() > 0) steps.push_back(fmt::format("a {} px cutout", a.cutout()));
  std::string text =
      "Pixels are scaled to [0, 1]" +
      std::string(config.data.normalize() ? " and then standardised per channel" : "") +
      "; labels are class numbers and the loss is the cross-entropy of the softmax output, "
      "which is Keras' categorical cross-entropy on one-hot labels.";
  if (!steps.empty()) {
    text += fmt::format(
        " Every training batch is augmented afresh (fill mode {}): {}. Validation and test images "
        "are not augmented.",
        fill_mode_name(a.fill_mode()), fmt::join(steps, ", "));
  }
  return text;
}

struct Section {
  std::string id;
  std::string title;
  std::string html;
  std::string nav;  // "1-2 examples"
};

class StudyPage {
 public:
  explicit StudyPage(const fs::path& page_dir) : page_dir_(page_dir) {}

  std::vector<Section> part_sections(const StudyPartResults& r, std::size_t number) {
    std::vector<Section> sections;
    const std::string p = fmt::format("p{}", number);
    auto id = [&]() { return fmt::format("s{}-{}", number, sections.size() + 1); };
    auto title = [&](const std::string& text) {
      return fmt::format("{}-{} {}: {}", number, sections.size() + 1, r.part.title, text);
    };
    auto add = [&](Section s, const std::string& nav) {
      s.nav = fmt::format("{}-{} {}", number, sections.size() + 1, nav);
      sections.push_back(std::move(s));
    };
    const RunAnalysis* model = r.model_analysis ? &*r.model_analysis : nullptr;
    const RunAnalysis* l2 = r.l2_analysis ? &*r.l2_analysis : nullptr;

    if (r.config.train.augment().enabled()) {
      Section s{id(), title("preprocessing"), finding(preprocessing_findings(r.config)), ""};
      if (!r.augmented.empty()) {
        s.html += "<div class=\"grid\">";
        for (const auto& picture : r.augmented) {
          s.html +=
              page::figure(picture.png, html_escape(picture.caption), "pic aug", picture.caption);
        }
        s.html += "</div>\n";
      }
      add(std::move(s), "preprocessing");
    }

    {
      Section s{id(), title(r.sweep.empty() ? "training" : "training, filter size and stride"), "",
                ""};
      if (model == nullptr) {
        s.html = not_finished(r.model);
      } else {
        s.html += finding(training_findings(*model, r.part.reference_accuracy));
        s.html += "<h3>Accuracy and loss per epoch</h3>" +
                  chart(epoch_curves_chart({*model}), p + "-epochs");
        s.html +=
            "<h3>Learning curve</h3><p class=\"note\">Every training batch; the control "
            "below the chart smooths it.</p>" +
            chart(learning_curve_chart({*model}), p + "-iterations");
        s.html += "<h3>Weights of every layer</h3>" +
                  chart(weight_histogram_chart({*model}, 60), p + "-weights") +
                  weights_table({*model});
        s.html += "<p class=\"note\">The run's own report: " +
                  report_link(r.model, page_dir_, r.model.run.run_dir.string()) + "</p>\n";
      }
      if (!r.sweep.empty()) {
        const auto groups = group_sweep(r.sweep);
        std::string note;
        if (!r.part.sweep_set.empty()) {
          note = fmt::format("<p class=\"note\">Every point of the sweep also sets {}.</p>\n",
                             html_escape(fmt::format("{}", fmt::join(r.part.sweep_set, ", "))));
        }
        s.html += "<div class=\"sweep\"><h3>Sweep</h3>" + note + finding(sweep_findings(groups)) +
                  chart(sweep_chart(groups, ""), p + "-sweep") +
                  sweep_table_html(r.sweep, groups, page_dir_) + "</div>\n";
      }
      add(std::move(s), "training");
    }

    {
      Section s{id(), title("examples"), "", ""};
      if (model == nullptr) {
        s.html = not_finished(r.model);
      } else {
        s.html += finding(examples_findings(*model));
        s.html += "<h3>Wrongly classified, most confident first</h3>" +
                  gallery(*model, model->wrong, model->wrong_pngs, false);
        s.html += "<h3>Correctly classified</h3>" +
                  gallery(*model, model->right, model->right_pngs, true);
      }
      add(std::move(s), "examples");
    }

    {
      Section s{id(), title("feature maps"), "", ""};
      if (model == nullptr) {
        s.html = not_finished(r.model);
      } else {
        s.html += finding(feature_map_findings(*model)) +
                  "<p class=\"note\">Each channel of every conv layer's output, stretched on its "
                  "own; a channel marked 0 is zero everywhere on the image.</p>\n" +
                  feature_maps_html(*model);
      }
      add(std::move(s), "feature maps");
    }

    if (r.l2) {
      Section s{id(), title("L2 regularisation"), "", ""};
      if (model == nullptr || l2 == nullptr) {
        s.html = not_finished(model == nullptr ? r.model : *r.l2);
      } else {
        s.html += finding(l2_findings(*model, *l2));
        if (std::isfinite(r.part.reference_l2_accuracy)) {
          s.html += finding(fmt::format("The study reached {:.4f} with L2 and {} without.",
                                        r.part.reference_l2_accuracy,
                                        accuracy_text(r.part.reference_accuracy)));
        }
        s.html += "<h3>Accuracy and loss per epoch</h3>" +
                  chart(epoch_curves_chart({*model, *l2}), p + "-l2-epochs");
        s.html += "<h3>Weights, with and without L2</h3>" +
                  chart(weight_histogram_chart({*model, *l2}, 60), p + "-l2-weights") +
                  weights_table({*model, *l2});
        s.html += "<p class=\"note\">The L2 run's own report: " +
                  report_link(*r.l2, page_dir_, r.l2->run.run_dir.string()) + "</p>\n";
      }
      add(std::move(s), "L2");
    }
    return sections;
  }

  json specs() const { return specs_; }

 private:
  std::string chart(Chart c, const std::string& id) {
    c.id = id;
    specs_[c.id] = c.spec;
    return page::chart_div(c.id);
  }

  static std::string not_finished(const RunOutcome& outcome) {
    std::string text = fmt::format("The run {} has not finished ({}).", outcome.run.label,
                                   run_status_name(outcome.status));
    if (!outcome.error.empty()) text += " " + outcome.error;
    return "<p class=\"note wrong\">" + html_escape(text) + "</p>\n";
  }

  fs::path page_dir_;
  json specs_ = json::object();
};

std::string results_table(const std::vector<StudyPartResults>& parts, const fs::path& page_dir) {
  bool presets = false;
  for (const auto& part : parts) presets = presets || part.preset.has_value();
  std::string html = fmt::format(
      "<table><tr><th>run</th><th>the study's test accuracy</th><th>cnnlab's</th>"
      "<th>difference</th><th>epochs</th><th>training time</th><th>report</th>{}</tr>\n",
      presets ? "<th>cnnlab's tuned preset</th>" : "");
  double total = 0;
  std::size_t runs = 0;
  auto seconds_of = [](const RunOutcome& outcome) {
    const json& m = outcome.metrics;
    return m.is_object() && m.contains("train_seconds") ? m["train_seconds"].get<double>() : 0.0;
  };
  auto cell = [&](const RunOutcome& outcome) {
    const double accuracy = accuracy_of(outcome);
    return std::isfinite(accuracy) ? report_link(outcome, page_dir, accuracy_text(accuracy))
                                   : html_escape(run_status_name(outcome.status));
  };
  auto row = [&](const RunOutcome& outcome, const std::string& name, double reference,
                 const std::optional<RunOutcome>& preset) {
    const double accuracy = accuracy_of(outcome);
    const double seconds = seconds_of(outcome);
    total += seconds;
    ++runs;
    std::string preset_cell;
    if (presets) {
      preset_cell = fmt::format("<td class=\"num\">{}</td>", preset ? cell(*preset) : "–");
      if (preset) {
        total += seconds_of(*preset);
        ++runs;
      }
    }
    html += fmt::format(
        "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
        "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>"
        "{}</tr>\n",
        html_escape(name), accuracy_text(reference), accuracy_text(accuracy),
        std::isfinite(accuracy) && std::isfinite(reference)
            ? fmt::format("{:+.4f}", accuracy - reference)
            : "–",
        text_of(outcome.metrics, "epochs"), duration(seconds),
        std::isfinite(accuracy) ? report_link(outcome, page_dir, "report")
                                : html_escape(run_status_name(outcome.status)),
        preset_cell);
  };
  for (const auto& part : parts) {
    row(part.model, part.part.title, part.part.reference_accuracy, part.preset);
    if (part.l2) {
      row(*part.l2, part.part.title + " with L2", part.part.reference_l2_accuracy, part.preset_l2);
    }
  }
  int64_t sweep_runs = 0;
  for (const auto& part : parts) {
    for (const auto& result : part.sweep) {
      total += seconds_of(result.outcome);
      ++sweep_runs;
    }
  }
  html += "</table>\n";
  if (presets) {
    html +=
        "<p class=\"note\">cnnlab's tuned presets (batch norm, dropout, a one-cycle schedule, "
        "bf16 where the CPU has it) train the same tasks beside the study's plain models; "
        "their figures stand beside the reproduction, not instead of it.</p>\n";
  }
  html += fmt::format(
      "<p class=\"note\">Training time of all {} runs of the study (the sweeps' {} included): "
      "{}.</p>\n",
      runs + static_cast<std::size_t>(sweep_runs), sweep_runs, duration(total));
  return html;
}

// The value a sweep group holds for the axis shown as `name` ("" when it has none).
std::string group_value(const SweepGroup& group, const std::string& name) {
  for (const auto& [axis, value] : group.values) {
    if (axis == name) return value;
  }
  return "";
}

double number(const std::string& text) {
  try {
    return std::stod(text);
  } catch (const std::exception&) {
    return std::numeric_limits<double>::quiet_NaN();
  }
}

// One of the study's conclusions, tested on this study's runs.
struct Verdict {
  std::string claim;
  std::string evidence;
  std::string result;  // "Reproduced", "Not reproduced", "Not decided"
};

// Twice the pooled standard deviation over seeds of the sweep's points (NaN with one seed a
// point): differences of means within it are noise.
double noise_margin(const std::vector<SweepGroup>& groups) {
  double variance = 0;
  int n = 0;
  for (const auto& g : groups) {
    if (g.finished > 1 && std::isfinite(g.stdev_accuracy)) {
      variance += g.stdev_accuracy * g.stdev_accuracy;
      ++n;
    }
  }
  return n > 0 ? 2 * std::sqrt(variance / n) : std::numeric_limits<double>::quiet_NaN();
}

std::string margin_text(double margin) {
  return std::isfinite(margin)
             ? fmt::format("the noise margin is {:.4f} (twice the spread over seeds)", margin)
             : "the sweep has one seed a point, so there is no noise margin";
}

// The points along `axis` with `held` = `held_value`, finished, in the sweep's order.
std::vector<const SweepGroup*> along(const std::vector<SweepGroup>& groups, const std::string& axis,
                                     const std::string& held, const std::string& held_value) {
  std::vector<const SweepGroup*> line;
  for (const auto& g : groups) {
    if (group_value(g, held) == held_value && !group_value(g, axis).empty()) line.push_back(&g);
  }
  std::stable_sort(line.begin(), line.end(), [&](const SweepGroup* a, const SweepGroup* b) {
    return number(group_value(*a, axis)) < number(group_value(*b, axis));
  });
  return line;
}

std::vector<Verdict> sweep_verdicts(const std::vector<SweepGroup>& groups) {
  std::vector<Verdict> verdicts;
  const double margin = noise_margin(groups);
  // Filter size, at stride 1.
  std::vector<const SweepGroup*> kernels;
  for (const auto* g : along(groups, "kernel", "stride", "1")) {
    if (std::isfinite(g->mean_accuracy)) kernels.push_back(g);
  }
  if (kernels.size() >= 2) {
    const auto [low, high] = std::minmax_element(
        kernels.begin(), kernels.end(),
        [](const auto* a, const auto* b) { return a->mean_accuracy < b->mean_accuracy; });
    const double span = (*high)->mean_accuracy - (*low)->mean_accuracy;
    Verdict v{
        "Filter size makes little difference.",
        fmt::format("At stride 1, filter sizes {} to {} reach {:.4f} ({}) to {:.4f} ({}), a "
                    "span of {:.4f}; {}.",
                    group_value(*kernels.front(), "kernel"), group_value(*kernels.back(), "kernel"),
                    (*low)->mean_accuracy, (*low)->label, (*high)->mean_accuracy, (*high)->label,
                    span, margin_text(margin)),
        ""};
    v.result = !std::isfinite(margin) ? "Not decided"
               : span <= margin       ? "Reproduced"
                                      : "Not reproduced";
    verdicts.push_back(v);
  }
  // Stride, at filter size 3.
  const auto strides = along(groups, "stride", "kernel", "3");
  std::vector<const SweepGroup*> built;
  std::vector<std::string> impossible;
  for (const auto* g : strides) {
    if (std::isfinite(g->mean_accuracy)) {
      built.push_back(g);
    } else if (!g->errors.empty()) {
      impossible.push_back(group_value(*g, "stride"));
    }
  }
  if (built.size() >= 2) {
    std::vector<std::string> steps;
    bool falls = true, rises = false;
    for (std::size_t i = 0; i + 1 < built.size(); ++i) {
      const double change = built[i + 1]->mean_accuracy - built[i]->mean_accuracy;
      steps.push_back(fmt::format("{:.4f} at stride {}", built[i]->mean_accuracy,
                                  group_value(*built[i], "stride")));
      const double m = std::isfinite(margin) ? margin : 0.0;
      falls = falls && change < -m;
      rises = rises || change > m;
    }
    steps.push_back(fmt::format("{:.4f} at stride {}", built.back()->mean_accuracy,
                                group_value(*built.back(), "stride")));
    Verdict v{"Accuracy falls as stride rises.",
              fmt::format("At filter size 3: {}{}; {}.", fmt::join(steps, ", "),
                          impossible.empty() ? ""
                                             : fmt::format(" (stride {} cannot be built)",
                                                           fmt::join(impossible, ", ")),
                          margin_text(margin)),
              ""};
    v.result = !std::isfinite(margin) ? "Not decided"
               : falls                ? "Reproduced"
               : rises                ? "Not reproduced"
                                      : "Not decided";
    verdicts.push_back(v);
  }
  return verdicts;
}

std::vector<Verdict> l2_verdicts(const StudyPartResults& part, double margin) {
  std::vector<Verdict> verdicts;
  if (!part.l2) return verdicts;
  const double plain = accuracy_of(part.model), l2 = accuracy_of(*part.l2);
  if (std::isfinite(plain) && std::isfinite(l2)) {
    Verdict v{part.part.title + ": L2 does not raise accuracy.",
              fmt::format("{:.4f} with L2 against {:.4f} without; {}.", l2, plain,
                          std::isfinite(margin) ? margin_text(margin)
                                                : "this part has no spread over seeds"),
              ""};
    const double m = std::isfinite(margin) ? margin : 0.0;
    v.result = l2 <= plain + m ? "Reproduced" : "Not reproduced";
    if (!std::isfinite(margin)) v.result += " (by sign alone)";
    verdicts.push_back(v);
  }
  if (part.model_analysis && part.l2_analysis) {
    std::vector<std::string> shares;
    bool pulled = true;
    int layers = 0;
    for (const auto& w : part.model_analysis->weights) {
      const std::string suffix = ".weight";
      if (w.name.size() <= suffix.size() ||
          w.name.compare(w.name.size() - suffix.size(), suffix.size(), suffix) != 0) {
        continue;
      }
      const LayerWeights* other = weights_named(*part.l2_analysis, w.name);
      if (other == nullptr) continue;
      const double without = fraction_within(w.values, kL2Bound);
      const double with = fraction_within(other->values, kL2Bound);
      pulled = pulled && with > without;
      ++layers;
      shares.push_back(fmt::format("{} {} → {}", w.name.substr(0, w.name.size() - suffix.size()),
                                   percent(without), percent(with)));
    }
    if (layers > 0) {
      verdicts.push_back(
          {part.part.title + ": L2 pulls the weights toward zero.",
           fmt::format("The share of weights with |w| < {:g}, without → with L2: {}.", kL2Bound,
                       fmt::join(shares, ", ")),
           pulled ? "Reproduced" : "Not reproduced"});
    }
  }
  return verdicts;
}

}  // namespace

std::string sweep_findings(const std::vector<SweepGroup>& groups) {
  std::vector<const SweepGroup*> finished;
  for (const auto& g : groups) {
    if (std::isfinite(g.mean_accuracy)) finished.push_back(&g);
  }
  std::vector<std::string> sentences;
  if (!groups.empty() && !groups[0].values.empty()) {
    const auto& base = groups[0].values;
    for (std::size_t axis = 0; axis < base.size(); ++axis) {
      // The line through the first point along this axis: the other axes at their first values.
      std::vector<const SweepGroup*> line;
      for (const auto* g : finished) {
        bool on_line = g->values.size() == base.size();
        for (std::size_t k = 0; on_line && k < base.size(); ++k) {
          on_line = k == axis || g->values[k].second == base[k].second;
        }
        if (on_line) line.push_back(g);
      }
      if (line.size() < 2) continue;
      std::vector<std::string> held;
      for (std::size_t k = 0; k < base.size(); ++k) {
        if (k != axis) held.push_back(base[k].first + "=" + base[k].second);
      }
      const double first = line.front()->mean_accuracy, last = line.back()->mean_accuracy;
      const auto [low, high] = std::minmax_element(
          line.begin(), line.end(),
          [](const auto* a, const auto* b) { return a->mean_accuracy < b->mean_accuracy; });
      const char* verb = last < first - kFlat ? "fell" : last > first + kFlat ? "rose" : "went";
      std::string text = fmt::format(
          "As {} went from {} to {}{}, test accuracy {} from {:.4f} to {:.4f}", base[axis].first,
          line.front()->values[axis].second, line.back()->values[axis].second,
          held.empty() ? "" : fmt::format(" ({})", fmt::join(held, ", ")), verb, first, last);
      text += fmt::format(" (lowest {:.4f} at {}, highest {:.4f} at {}).", (*low)->mean_accuracy,
                          (*low)->values[axis].second, (*high)->mean_accuracy,
                          (*high)->values[axis].second);
      sentences.push_back(text);
    }
  }
  if (finished.size() >= 2) {
    const auto [worst, best] = std::minmax_element(
        finished.begin(), finished.end(),
        [](const auto* a, const auto* b) { return a->mean_accuracy < b->mean_accuracy; });
    sentences.push_back(fmt::format(
        "Over all {} points, the best is {} ({:.4f}) and the worst {} ({:.4f}).", finished.size(),
        (*best)->label, (*best)->mean_accuracy, (*worst)->label, (*worst)->mean_accuracy));
  }
  std::size_t failed = 0;
  for (const auto& g : groups) failed += g.errors.size();
  if (failed > 0) {
    sentences.push_back(fmt::format("{} point{} could not be trained (listed below the table).",
                                    failed, failed == 1 ? "" : "s"));
  }
  if (sentences.empty()) return "No point of the sweep has finished yet.";
  return fmt::format("{}", fmt::join(sentences, " "));
}

std::string conclusions_html(const std::vector<StudyPartResults>& parts) {
  std::string html;
  for (const auto& part : parts) {
    std::vector<Verdict> verdicts;
    double margin = std::numeric_limits<double>::quiet_NaN();
    if (!part.sweep.empty()) {
      const auto groups = group_sweep(part.sweep);
      margin = noise_margin(groups);
      verdicts = sweep_verdicts(groups);
    }
    for (auto& v : l2_verdicts(part, margin)) verdicts.push_back(std::move(v));
    for (const auto& v : verdicts) {
      html += fmt::format("<li><strong>{}</strong> {} <strong class=\"{}\">{}.</strong></li>\n",
                          html_escape(v.claim), html_escape(v.evidence),
                          v.result.rfind("Reproduced", 0) == 0 ? "right" : "wrong",
                          html_escape(v.result));
    }
  }
  if (html.empty()) return "";
  return "<p>Each of the study's conclusions, tested on this study's runs (computed, not written "
         "in advance):</p>\n<ul class=\"conclusions\">\n" +
         html + "</ul>\n";
}

std::string l2_findings(const RunAnalysis& plain, const RunAnalysis& l2) {
  std::string text = fmt::format("With L2, test accuracy was {:.4f}, against {:.4f} without.",
                                 l2.test_accuracy, plain.test_accuracy);
  const LayerWeights* kernel = largest_kernel(plain);
  const LayerWeights* other = kernel ? weights_named(l2, kernel->name) : nullptr;
  if (kernel != nullptr && other != nullptr) {
    const double spread_plain =
        kernel->values.numel() > 1 ? kernel->values.std().item<double>() : 0;
    const double spread_l2 = other->values.numel() > 1 ? other->values.std().item<double>() : 0;
    text += fmt::format(
        " {} of the {} values lie within ±{:g} with L2, against {} without; their standard "
        "deviation went from {:.4f} to {:.4f}.",
        percent(fraction_within(other->values, kL2Bound)), kernel->name, kL2Bound,
        percent(fraction_within(kernel->values, kL2Bound)), spread_plain, spread_l2);
  }
  return text;
}

std::string render_study_page(const StudySpec& spec, const std::vector<StudyPartResults>& parts,
                              const fs::path& page_dir, bool quick) {
  StudyPage page(page_dir);
  const std::string conclusions = conclusions_html(parts);
  std::vector<std::pair<std::string, std::string>> nav{{"results", "Results"}};
  if (!conclusions.empty()) nav.emplace_back("conclusions", "Conclusions");
  std::string body;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    for (const auto& section : page.part_sections(parts[i], i + 1)) {
      nav.emplace_back(section.id, section.nav);
      body += fmt::format("<section id=\"{}\" class=\"study-section\"><h2>{}</h2>\n{}</section>\n",
                          section.id, html_escape(section.title), section.html);
    }
  }
  std::string html = page::begin(spec.title, "cnnlab", nav);
  html += "<section id=\"results\"><h2>Results beside the study</h2>\n";
  if (quick) {
    html +=
        "<p class=\"note wrong\">A quick run (--quick): a few hundred images and one epoch per "
        "run, to check the whole path. Its numbers are not the study's.</p>\n";
  }
  html += results_table(parts, page_dir) + "</section>\n";
  if (!conclusions.empty()) {
    html += "<section id=\"conclusions\"><h2>The study's conclusions</h2>\n" + conclusions +
            "</section>\n";
  }
  html += body;
  return html + page::end(page.specs());
}

void write_study_page(const StudySpec& spec, const std::vector<StudyPartResults>& parts,
                      const fs::path& out, bool quick) {
  const fs::path dir = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  for (const auto& part : parts) {
    if (part.sweep.empty()) continue;
    const SweepDir sweep = StudyDir(dir).sweep(part.part.name);
    write_sweep_page(sweep.path().filename().string(), part.sweep, sweep.page());
  }
  write_file_atomically(out, render_study_page(spec, parts, dir, quick));
}

}  // namespace cnnlab
