#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cnnlab/report/run_analysis.h"

// Pieces of HTML shared by the run report and the study report. Text from users is escaped.
namespace cnnlab::report_html {

/// |w| at or below this counts as "near zero" in the weights table (L2 pulls weights there).
constexpr double kNearZero = 0.05;

/// "42.0 s", "3 min 5 s", "1 h 12 min"; "–" for a time that is not positive.
std::string duration(double seconds);

/// metrics[key] formatted with `format`, or "–" when it is missing.
std::string number(const nlohmann::json& metrics, const char* key, const char* format);

/// metrics[key] as text (integers with thin-space thousands), or "–".
std::string text_of(const nlohmann::json& metrics, const char* key);

/// The run's name for a class label, or the label's number.
std::string class_name(const RunAnalysis& run, int64_t label);

/// A grid of test images with true and predicted labels; `right` picks the caption style.
std::string gallery(const RunAnalysis& run, const std::vector<GalleryItem>& items,
                    const std::vector<std::string>& pngs, bool right);

/// Name, dataset, accuracy, loss, epochs, parameters, time, speed and machine of each run.
std::string runs_table(const std::vector<RunAnalysis>& runs);

/// Spread and share of near-zero values of every weight tensor, runs side by side.
std::string weights_table(const std::vector<RunAnalysis>& runs);

/// The feature maps of up to `max_images` of the run's chosen images, layer by layer.
std::string feature_maps_html(const RunAnalysis& run, std::size_t max_images = SIZE_MAX);

/// A CSV field, quoted where it holds a comma, a quote or a newline.
std::string csv_field(const std::string& text);

}  // namespace cnnlab::report_html
