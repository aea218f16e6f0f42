#include "progress_bar.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>

namespace cnnlab::cli {

namespace {
constexpr int kBarWidth = 30;
constexpr double kRedrawSeconds = 0.1;
}  // namespace

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return fmt::format("{}h {:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m {:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

ProgressBar::ProgressBar(std::FILE* out) : out_(out), interactive_(isatty(fileno(out)) != 0) {}

std::string ProgressBar::bar(int64_t done, int64_t total) const {
  const int width = static_cast<int>(std::to_string(total).size());
  std::string body;
  const int64_t filled = total > 0 ? done * kBarWidth / total : kBarWidth;
  for (int i = 0; i < kBarWidth; ++i) {
    if (i < filled || done == total) {
      body += '=';
    } else if (i == filled) {
      body += '>';
    } else {
      body += '.';
    }
  }
  if (done < total && filled > 0) body[static_cast<std::size_t>(filled - 1)] = '=';
  return fmt::format("{:>{}}/{} [{}]", done, width, total, body);
}

void ProgressBar::epoch_begin(int64_t epoch, int64_t epochs, int64_t /*steps*/) {
  fmt::print(out_, "Epoch {}/{}\n", epoch + 1, epochs);
  std::fflush(out_);
}

void ProgressBar::step(const StepEvent& event) {
  last_ = event;
  if (!interactive_) return;
  const auto now = std::chrono::steady_clock::now();
  if (event.step != event.steps_per_epoch &&
      std::chrono::duration<double>(now - last_draw_).count() < kRedrawSeconds) {
    return;
  }
  last_draw_ = now;
  const double per_step = event.epoch_seconds / static_cast<double>(event.step);
  const double eta = per_step * static_cast<double>(event.steps_per_epoch - event.step);
  fmt::print(out_, "\r{} - ETA: {} - loss: {:.4f} - accuracy: {:.4f}\033[K",
             bar(event.step, event.steps_per_epoch), format_duration(eta), event.loss,
             event.accuracy);
  std::fflush(out_);
}

void ProgressBar::epoch_end(const EpochRecord& record) {
  const double per_step_ms =
      1000.0 * record.seconds / static_cast<double>(std::max<int64_t>(record.steps, 1));
  std::string line = fmt::format("{} - {} {:.0f}ms/step - loss: {:.4f} - accuracy: {:.4f}",
                                 bar(record.steps, record.steps), format_duration(record.seconds),
                                 per_step_ms, record.loss, record.accuracy);
  if (!std::isnan(record.val_accuracy)) {
    line += fmt::format(" - val_loss: {:.4f} - val_accuracy: {:.4f}", record.val_loss,
                        record.val_accuracy);
  }
  fmt::print(out_, "{}{}\n", interactive_ ? "\r" : "", line + (interactive_ ? "\033[K" : ""));
  std::fflush(out_);
}

void ProgressBar::test_batch(int64_t done, int64_t total) {
  const auto now = std::chrono::steady_clock::now();
  if (done == 0) {
    test_start_ = now;
    test_batches_ = total;
  }
  if (!interactive_ || done == total ||
      std::chrono::duration<double>(now - last_draw_).count() < kRedrawSeconds) {
    return;
  }
  last_draw_ = now;
  const double seconds = std::chrono::duration<double>(now - test_start_).count();
  const double eta =
      done > 0 ? seconds / static_cast<double>(done) * static_cast<double>(total - done) : 0;
  fmt::print(out_, "\r{} - ETA: {}\033[K", bar(done, total), format_duration(eta));
  std::fflush(out_);
}

void ProgressBar::test_end(double loss, double accuracy) {
  if (test_batches_ == 0) return;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - test_start_).count();
  const double per_step_ms = 1000.0 * seconds / static_cast<double>(test_batches_);
  fmt::print(out_, "{}{} - {} {:.0f}ms/step - loss: {:.4f} - accuracy: {:.4f}{}\n",
             interactive_ ? "\r" : "", bar(test_batches_, test_batches_), format_duration(seconds),
             per_step_ms, loss, accuracy, interactive_ ? "\033[K" : "");
  std::fflush(out_);
  test_batches_ = 0;
}

}  // namespace cnnlab::cli
