#include "cnnlab/report/charts.h"

#include <fmt/format.h>

#include <cmath>

#include "cnnlab/analysis/statistics.h"

namespace cnnlab {
using nlohmann::json;

namespace {

constexpr const char* kSchema = "https://vega.github.io/schema/vega-lite/v6.json";
// Long runs are thinned to about this many points a curve: a chart of 20,000 steps shows no
// more than one of 3,000, and the page stays small.
constexpr std::size_t kMaxCurvePoints = 3000;

// Five significant digits: what a chart can show, in a fraction of the bytes.
double round5(double v) { return std::isfinite(v) ? std::stod(fmt::format("{:.5g}", v)) : v; }

json base_spec(const json& values) {
  return {{"$schema", kSchema},
          {"data", {{"values", values}}},
          {"config", {{"view", {{"stroke", "transparent"}}}, {"axis", {{"grid", true}}}}}};
}

json run_color(const std::vector<RunAnalysis>& runs) {
  std::vector<std::string> names;
  for (const auto& run : runs) names.push_back(run.name);
  return {{"field", "run"}, {"type", "nominal"}, {"title", "run"}, {"sort", names}};
}

std::string smoothing_field(const std::string& metric, double weight) {
  return fmt::format("{}_{}", metric, static_cast<int>(std::lround(weight * 100)));
}

// Accuracy and loss side by side, each on its own y scale.
void facet_by_metric(json& spec) {
  spec["facet"] = {{"column",
                    {{"field", "metric"},
                     {"type", "nominal"},
                     {"title", nullptr},
                     {"sort", {"accuracy", "loss"}}}}};
  spec["resolve"] = {{"scale", {{"y", "independent"}}}};
}

}  // namespace

const std::vector<double>& learning_curve_smoothings() {
  static const std::vector<double> weights{0.0, 0.6, 0.9, 0.99};
  return weights;
}

Chart epoch_curves_chart(const std::vector<RunAnalysis>& runs) {
  json values = json::array();
  for (const auto& run : runs) {
    for (const auto& e : run.history.epochs) {
      const std::pair<const char*, double> points[] = {{"accuracy", e.accuracy}, {"loss", e.loss}};
      for (const auto& [metric, value] : points) {
        values.push_back({{"run", run.name},
                          {"epoch", e.epoch},
                          {"metric", metric},
                          {"split", "training"},
                          {"value", round5(value)}});
      }
      if (std::isfinite(e.val_accuracy)) {
        values.push_back({{"run", run.name},
                          {"epoch", e.epoch},
                          {"metric", "accuracy"},
                          {"split", "validation"},
                          {"value", round5(e.val_accuracy)}});
        values.push_back({{"run", run.name},
                          {"epoch", e.epoch},
                          {"metric", "loss"},
                          {"split", "validation"},
                          {"value", round5(e.val_loss)}});
      }
    }
  }
  json spec = base_spec(values);
  facet_by_metric(spec);
  spec["spec"] = {
      {"width", 420},
      {"height", 260},
      {"mark", {{"type", "line"}, {"point", true}}},
      {"encoding",
       {{"x", {{"field", "epoch"}, {"type", "quantitative"}, {"axis", {{"tickMinStep", 1}}}}},
        {"y",
         {{"field", "value"},
          {"type", "quantitative"},
          {"scale", {{"zero", false}}},
          {"title", nullptr}}},
        {"color", run_color(runs)},
        {"strokeDash",
         {{"field", "split"},
          {"type", "nominal"},
          {"title", "data"},
          {"legend", {{"symbolType", "stroke"}, {"symbolStrokeColor", "#555"}}}}},
        {"tooltip", json::array({{{"field", "run"}},
                                 {{"field", "split"}},
                                 {{"field", "epoch"}},
                                 {{"field", "metric"}},
                                 {{"field", "value"}}})}}}};
  return {"epochs", spec};
}

std::vector<TimedAccuracy> test_accuracy_over_time(const RunAnalysis& run) {
  std::vector<TimedAccuracy> points;
  const json& m = run.metrics;
  if (!m.is_object() || !m.contains("wall_seconds") || !m["wall_seconds"].is_number()) {
    return points;
  }
  const double end = m["wall_seconds"].get<double>();
  if (run.validates_on_test) {
    // Epoch ends, counted back from the end of training: the wall time less the final test
    // and the epochs still to come.
    double at = end - m.value("test_seconds", 0.0);
    std::vector<TimedAccuracy> epochs;
    for (auto e = run.history.epochs.rbegin(); e != run.history.epochs.rend(); ++e) {
      if (std::isfinite(e->val_accuracy)) epochs.push_back({at, e->val_accuracy, e->epoch});
      at -= e->seconds;
    }
    points.assign(epochs.rbegin(), epochs.rend());
  }
  if (m.contains("test_accuracy") && m["test_accuracy"].is_number()) {
    points.push_back({end, m["test_accuracy"].get<double>(), 0});
  }
  return points;
}

Chart accuracy_over_time_chart(const std::vector<RunAnalysis>& runs) {
  json values = json::array();
  for (const auto& run : runs) {
    for (const auto& point : test_accuracy_over_time(run)) {
      values.push_back({{"run", run.name},
                        {"minutes", round5(point.seconds / 60)},
                        {"accuracy", round5(point.accuracy)},
                        {"when", point.epoch > 0 ? fmt::format("after epoch {}", point.epoch)
                                                 : std::string("final test")}});
    }
  }
  if (values.empty()) return {};
  json spec = base_spec(values);
  spec["width"] = 520;
  spec["height"] = 300;
  spec["mark"] = {{"type", "line"}, {"point", true}};
  spec["encoding"] = {
      {"x", {{"field", "minutes"}, {"type", "quantitative"}, {"title", "wall time (minutes)"}}},
      {"y",
       {{"field", "accuracy"},
        {"type", "quantitative"},
        {"scale", {{"zero", false}}},
        {"title", "test accuracy"}}},
      {"color", run_color(runs)},
      {"tooltip", json::array({{{"field", "run"}},
                               {{"field", "when"}},
                               {{"field", "minutes"}},
                               {{"field", "accuracy"}}})}};
  return {"accuracy_over_time", spec};
}

Chart learning_curve_chart(const std::vector<RunAnalysis>& runs) {
  const auto& weights = learning_curve_smoothings();
  json values = json::array();
  for (const auto& run : runs) {
    const auto& steps = run.history.steps;
    std::vector<double> loss, accuracy;
    for (const auto& s : steps) {
      loss.push_back(s.loss);
      accuracy.push_back(s.accuracy);
    }
    std::vector<std::vector<double>> smoothed_loss, smoothed_accuracy;
    for (const double w : weights) {
      smoothed_loss.push_back(exponential_smoothing(loss, w));
      smoothed_accuracy.push_back(exponential_smoothing(accuracy, w));
    }
    const std::size_t stride = (steps.size() + kMaxCurvePoints - 1) / kMaxCurvePoints;
    for (std::size_t i = 0; i < steps.size(); i += std::max<std::size_t>(stride, 1)) {
      json row = {{"run", run.name}, {"step", steps[i].global_step}, {"epoch", steps[i].epoch}};
      for (std::size_t k = 0; k < weights.size(); ++k) {
        row[smoothing_field("loss", weights[k])] = round5(smoothed_loss[k][i]);
        row[smoothing_field("accuracy", weights[k])] = round5(smoothed_accuracy[k][i]);
      }
      values.push_back(std::move(row));
    }
  }
  json options = json::array(), labels = json::array();
  for (const double w : weights) {
    options.push_back(static_cast<int>(std::lround(w * 100)));
    labels.push_back(w == 0 ? std::string("none") : fmt::format("{:g}", w));
  }
  json spec = base_spec(values);
  spec["params"] = {{{"name", "smoothing"},
                     {"value", options[2]},
                     {"bind",
                      {{"input", "radio"},
                       {"options", options},
                       {"labels", labels},
                       {"name", "smoothing (exponential moving average) "}}}}};
  spec["transform"] = {{{"calculate", "datum['accuracy_' + smoothing]"}, {"as", "accuracy"}},
                       {{"calculate", "datum['loss_' + smoothing]"}, {"as", "loss"}},
                       {{"fold", {"accuracy", "loss"}}, {"as", {"metric", "value"}}}};
  facet_by_metric(spec);
  spec["spec"] = {
      {"width", 420},
      {"height", 260},
      {"mark", {{"type", "line"}, {"strokeWidth", 1.2}}},
      {"encoding",
       {{"x", {{"field", "step"}, {"type", "quantitative"}, {"title", "iteration (batch)"}}},
        {"y", {{"field", "value"}, {"type", "quantitative"}, {"title", nullptr}}},
        {"color", run_color(runs)},
        {"tooltip", json::array({{{"field", "run"}},
                                 {{"field", "step"}},
                                 {{"field", "epoch"}},
                                 {{"field", "metric"}},
                                 {{"field", "value"}}})}}}};
  return {"learning_curve", spec};
}

Chart weight_histogram_chart(const std::vector<RunAnalysis>& runs, int64_t bins) {
  // Shared bins per tensor, so that runs compare bar for bar.
  std::vector<std::string> order;
  std::map<std::string, std::pair<double, double>> range;
  for (const auto& run : runs) {
    for (const auto& w : run.weights) {
      const double lo = w.values.min().item<double>(), hi = w.values.max().item<double>();
      auto [it, fresh] = range.try_emplace(w.name, lo, hi);
      if (fresh) order.push_back(w.name);
      it->second = {std::min(it->second.first, lo), std::max(it->second.second, hi)};
    }
  }
  json values = json::array();
  for (const auto& run : runs) {
    for (const auto& w : run.weights) {
      const auto [lo, hi] = range[w.name];
      const Histogram h = make_histogram(w.values, bins, lo, hi);
      const double total = static_cast<double>(std::max<int64_t>(h.total(), 1));
      const double width = h.bin_width() > 0 ? h.bin_width() : 1e-6;
      const double start = h.bin_width() > 0 ? h.lo : h.lo - width / 2;
      for (std::size_t b = 0; b < h.counts.size(); ++b) {
        if (h.counts[b] == 0) continue;
        values.push_back({{"run", run.name},
                          {"layer", w.name},
                          {"bin_start", round5(start + b * width)},
                          {"bin_end", round5(start + (b + 1) * width)},
                          {"count", h.counts[b]},
                          {"fraction", round5(h.counts[b] / total)}});
      }
    }
  }
  json spec = base_spec(values);
  spec["facet"] = {{"field", "layer"}, {"type", "nominal"}, {"sort", order}, {"title", nullptr}};
  spec["columns"] = 3;
  spec["resolve"] = {{"scale", {{"x", "independent"}, {"y", "independent"}}}};
  spec["spec"] = {{"width", 300},
                  {"height", 150},
                  {"mark", {{"type", "bar"}, {"opacity", 0.55}, {"binSpacing", 0}}},
                  {"encoding",
                   {{"x",
                     {{"field", "bin_start"},
                      {"type", "quantitative"},
                      {"title", "weight"},
                      {"bin", {{"binned", true}}}}},
                    {"x2", {{"field", "bin_end"}}},
                    {"y",
                     {{"field", "fraction"},
                      {"type", "quantitative"},
                      {"stack", nullptr},
                      {"title", "fraction of weights"}}},
                    {"color", run_color(runs)},
                    {"tooltip", json::array({{{"field", "run"}},
                                             {{"field", "layer"}},
                                             {{"field", "bin_start"}},
                                             {{"field", "bin_end"}},
                                             {{"field", "count"}}})}}}};
  return {"weights", spec};
}

Chart epoch_weight_chart(const std::vector<RunAnalysis>& runs) {
  json values = json::array();
  std::vector<std::string> layers;
  for (const auto& run : runs) {
    for (const auto& epoch : run.epoch_weight_histograms) {
      for (const auto& layer : epoch["layers"]) {
        const std::string name = layer.value("name", "");
        if (std::find(layers.begin(), layers.end(), name) == layers.end()) layers.push_back(name);
        const double lo = layer.value("lo", 0.0), hi = layer.value("hi", 0.0);
        const auto counts = layer.value("counts", std::vector<int64_t>{});
        double total = 0;
        for (const auto c : counts) total += static_cast<double>(c);
        const double width = counts.empty() ? 0 : (hi - lo) / counts.size();
        for (std::size_t b = 0; b < counts.size(); ++b) {
          values.push_back({{"run", run.name},
                            {"layer", name},
                            {"epoch", epoch["epoch"]},
                            {"weight", round5(lo + (b + 0.5) * width)},
                            {"fraction", round5(counts[b] / std::max(total, 1.0))}});
        }
      }
    }
  }
  if (values.empty()) return {"", nullptr};
  json spec = base_spec(values);
  spec["params"] = {
      {{"name", "layer"},
       {"value", layers.front()},
       {"bind", {{"input", "select"}, {"options", layers}, {"name", "weights of "}}}}};
  spec["transform"] = {{{"filter", "datum.layer == layer"}}};
  spec["facet"] = {{"field", "run"}, {"type", "nominal"}, {"title", nullptr}};
  spec["columns"] = 2;
  spec["spec"] = {
      {"width", 420},
      {"height", 220},
      {"mark", {{"type", "line"}, {"interpolate", "step"}}},
      {"encoding",
       {{"x", {{"field", "weight"}, {"type", "quantitative"}}},
        {"y", {{"field", "fraction"}, {"type", "quantitative"}, {"title", "fraction of weights"}}},
        {"color", {{"field", "epoch"}, {"type", "ordinal"}, {"scale", {{"scheme", "viridis"}}}}},
        {"tooltip",
         json::array({{{"field", "epoch"}}, {{"field", "weight"}}, {{"field", "fraction"}}})}}}};
  return {"weights_per_epoch", spec};
}

Chart per_class_chart(const std::vector<RunAnalysis>& runs) {
  json values = json::array();
  for (const auto& run : runs) {
    for (std::size_t c = 0; c < run.per_class_accuracy.size(); ++c) {
      if (!std::isfinite(run.per_class_accuracy[c])) continue;
      values.push_back({{"run", run.name},
                        {"class", run.class_names[c]},
                        {"accuracy", round5(run.per_class_accuracy[c])}});
    }
  }
  json spec = base_spec(values);
  spec["width"] = {{"step", 14 * std::max<std::size_t>(runs.size(), 2)}};
  spec["height"] = 240;
  spec["mark"] = "bar";
  spec["encoding"] = {{"x",
                       {{"field", "class"},
                        {"type", "nominal"},
                        {"sort", runs.empty() ? json(nullptr) : json(runs.front().class_names)}}},
                      {"xOffset", run_color(runs)},
                      {"y",
                       {{"field", "accuracy"},
                        {"type", "quantitative"},
                        {"title", "test accuracy"},
                        {"scale", {{"zero", false}}}}},
                      {"color", run_color(runs)},
                      {"tooltip", json::array({{{"field", "run"}},
                                               {{"field", "class"}},
                                               {{"field", "accuracy"}, {"format", ".4f"}}})}};
  return {"per_class_accuracy", spec};
}

Chart confusion_chart(const RunAnalysis& run, const std::string& id) {
  json values = json::array();
  const auto counts = run.confusion.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t k = counts.size(0);
  const auto* c = counts.data_ptr<int64_t>();
  for (int64_t t = 0; t < k; ++t) {
    int64_t row = 0;
    for (int64_t p = 0; p < k; ++p) row += c[t * k + p];
    for (int64_t p = 0; p < k; ++p) {
      values.push_back({{"true", run.class_names[t]},
                        {"predicted", run.class_names[p]},
                        {"count", c[t * k + p]},
                        {"share", round5(row > 0 ? double(c[t * k + p]) / row : 0.0)}});
    }
  }
  const int64_t cell = k <= 12 ? 34 : std::max<int64_t>(12, 420 / k);
  json axis_sort = run.class_names;
  json spec = base_spec(values);
  spec["width"] = {{"step", cell}};
  spec["height"] = {{"step", cell}};
  spec["encoding"] = {{"x",
                       {{"field", "predicted"},
                        {"type", "nominal"},
                        {"sort", axis_sort},
                        {"axis", {{"orient", "top"}, {"labelAngle", -45}}}}},
                      {"y", {{"field", "true"}, {"type", "nominal"}, {"sort", axis_sort}}}};
  spec["layer"] = {{{"mark", "rect"},
                    {"encoding",
                     {{"color",
                       {{"field", "share"},
                        {"type", "quantitative"},
                        {"scale", {{"scheme", "blues"}, {"type", "sqrt"}}},
                        {"title", "share of the true class"}}},
                      {"tooltip", json::array({{{"field", "true"}},
                                               {{"field", "predicted"}},
                                               {{"field", "count"}},
                                               {{"field", "share"}, {"format", ".2%"}}})}}}},
                   {{"mark", {{"type", "text"}, {"fontSize", cell < 24 ? 7 : 10}}},
                    {"transform", {{{"filter", "datum.count > 0"}}}},
                    {"encoding",
                     {{"text", {{"field", "count"}, {"type", "quantitative"}}},
                      {"color",
                       {{"condition", {{"test", "datum.share > 0.5"}, {"value", "white"}}},
                        {"value", "black"}}}}}}};
  return {id, spec};
}

}  // namespace cnnlab
