#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace cnnlab {

struct StepRecord {
  int64_t epoch = 0;        // 1-based
  int64_t global_step = 0;  // 1-based
  double loss = 0;          // of this batch, with the l2 term
  double accuracy = 0;      // of this batch
  double lr = 0;
};

struct EpochRecord {
  int64_t epoch = 0;  // 1-based
  int64_t epochs = 0;
  double loss = 0;
  double accuracy = 0;
  double val_loss = 0;  // NaN without a validation set
  double val_accuracy = 0;
  double lr = 0;
  double seconds = 0;
  int64_t steps = 0;
};

/// The figures of an epoch that early stopping and the plateau schedule watch ("monitors"):
/// val_loss, val_accuracy, loss, accuracy. Throws ConfigError naming `where` for another name.
void check_monitor(const std::string& monitor, const std::string& where);
/// Whether `monitor` needs a validation set (val_loss, val_accuracy).
bool monitors_validation(const std::string& monitor);
/// The monitored figure of one epoch (NaN where the epoch has none, e.g. no validation set).
double monitored_value(const std::string& monitor, const EpochRecord& epoch);
/// Whether `value` is better than `best` by more than `min_delta`: lower for losses, higher for
/// accuracies. A NaN never improves.
bool improves(const std::string& monitor, double value, double best, double min_delta);

/// The learning curve (every step) and the per-epoch metrics of a run.
struct History {
  std::vector<StepRecord> steps;
  std::vector<EpochRecord> epochs;
};

/// Appends history to `steps.csv` and `epochs.csv` in a run directory, flushing every line so a
/// run that crashes keeps its curve up to the crash.
class HistoryWriter {
 public:
  HistoryWriter() = default;
  /// Opens (creating with a header) the two files in `run_dir`. When `keep` is given, existing
  /// files are first rewritten to hold exactly its records, dropping lines written after the
  /// checkpoint being resumed.
  void open(const std::filesystem::path& run_dir, const History* keep);
  void append(const StepRecord& record);
  void append(const EpochRecord& record);
  bool is_open() const { return steps_.is_open(); }

 private:
  std::ofstream steps_;
  std::ofstream epochs_;
};

/// Reads the two CSV files back (for resume, evaluation and reports). Missing files give an empty
/// history; a last line without its newline (a crash mid-write) is ignored; other malformed lines
/// throw DataFormatError naming the file and line.
History read_history(const std::filesystem::path& run_dir);

}  // namespace cnnlab
