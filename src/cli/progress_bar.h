#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "cnnlab/training/trainer.h"

namespace cnnlab::cli {

/// Keras' fit() progress display: "Epoch 1/5", then
/// `844/844 [==============================] - 9s 10ms/step - loss: … - val_accuracy: …`.
/// On a terminal the line is redrawn in place (at most ten times a second); otherwise only the
/// finished line of each epoch is printed, so logs stay readable.
class ProgressBar {
 public:
  explicit ProgressBar(std::FILE* out);

  void epoch_begin(int64_t epoch, int64_t epochs, int64_t steps);
  void step(const StepEvent& event);
  void epoch_end(const EpochRecord& record);

  /// Keras' evaluate() display: `313/313 [==============================] - 1s 3ms/step - loss:
  /// 0.0289 - accuracy: 0.9920`. test_batch follows the batches (redrawn on a terminal);
  /// test_end prints the finished line once the result is known.
  void test_batch(int64_t done, int64_t total);
  void test_end(double loss, double accuracy);

 private:
  std::string bar(int64_t done, int64_t total) const;

  std::FILE* out_;
  bool interactive_;
  std::chrono::steady_clock::time_point last_draw_{};
  StepEvent last_{};
  int64_t test_batches_ = 0;
  std::chrono::steady_clock::time_point test_start_{};
};

/// "1h 02m", "3m 05s", "12s".
std::string format_duration(double seconds);

}  // namespace cnnlab::cli
