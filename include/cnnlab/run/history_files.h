#pragma once

#include <filesystem>
#include <fstream>

#include "cnnlab/run/run_dir.h"
#include "cnnlab/training/history.h"

namespace cnnlab {

/// Appends history to `steps.csv` and `epochs.csv` in a run directory, flushing every line so a
/// run that crashes keeps its curve up to the crash.
class HistoryWriter {
 public:
  HistoryWriter() = default;
  /// Opens (creating with a header) the two files in `run_dir`. When `keep` is given, existing
  /// files are first rewritten to hold exactly its records, dropping lines written after the
  /// checkpoint being resumed.
  void open(const RunDir& run_dir, const History* keep);
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
History read_history(const RunDir& run_dir);

}  // namespace cnnlab
