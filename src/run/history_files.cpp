#include "cnnlab/run/history_files.h"

#include <fmt/format.h>

#include <cmath>
#include <sstream>
#include <string>

#include "cnnlab/error.h"
#include "cnnlab/io/atomic_file.h"

namespace cnnlab {
namespace fs = std::filesystem;

namespace {

constexpr const char* kStepsHeader = "epoch,step,loss,accuracy,lr";
constexpr const char* kEpochsHeader = "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps";

std::string format_line(const StepRecord& r) {
  return fmt::format("{},{},{:.6g},{:.6g},{:.6g}\n", r.epoch, r.global_step, r.loss, r.accuracy,
                     r.lr);
}

std::string format_line(const EpochRecord& r) {
  return fmt::format("{},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.3f},{}\n", r.epoch, r.loss,
                     r.accuracy, r.val_loss, r.val_accuracy, r.lr, r.seconds, r.steps);
}

std::vector<double> parse_fields(const std::string& line, std::size_t expected,
                                 const fs::path& path, int line_number) {
  std::vector<double> values;
  std::stringstream stream(line);
  std::string field;
  while (std::getline(stream, field, ',')) {
    try {
      std::size_t used = 0;
      values.push_back(field == "nan" ? NAN : std::stod(field, &used));
    } catch (const std::exception&) {
      throw DataFormatError(
          fmt::format("{}: line {}: '{}' is not a number", path.string(), line_number, field));
    }
  }
  if (values.size() != expected) {
    throw DataFormatError(fmt::format("{}: line {}: expected {} fields, found {}", path.string(),
                                      line_number, expected, values.size()));
  }
  return values;
}

template <typename Record, typename Build>
std::vector<Record> read_csv(const fs::path& path, std::size_t fields, Build build) {
  std::vector<Record> records;
  std::ifstream in(path);
  if (!in) return records;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    // A last line without its newline was cut short by a crash mid-write: it is not a record.
    if (in.eof()) break;
    if (number == 1 || line.empty()) continue;
    records.push_back(build(parse_fields(line, fields, path, number)));
  }
  return records;
}

}  // namespace

void HistoryWriter::open(const RunDir& run_dir, const History* keep) {
  const fs::path steps_path = run_dir.steps(), epochs_path = run_dir.epochs();
  if (keep != nullptr) {
    std::string steps = std::string(kStepsHeader) + "\n",
                epochs = std::string(kEpochsHeader) + "\n";
    for (const auto& r : keep->steps) steps += format_line(r);
    for (const auto& r : keep->epochs) epochs += format_line(r);
    write_file_atomically(steps_path, steps);
    write_file_atomically(epochs_path, epochs);
  }
  for (auto [stream, path, header] : {std::tuple{&steps_, steps_path, kStepsHeader},
                                      std::tuple{&epochs_, epochs_path, kEpochsHeader}}) {
    const bool fresh = !fs::exists(path);
    stream->open(path, std::ios::app);
    if (!*stream) throw IoError(path.string() + ": cannot open for writing");
    if (fresh) *stream << header << "\n" << std::flush;
  }
}

void HistoryWriter::append(const StepRecord& record) {
  steps_ << format_line(record) << std::flush;
}

void HistoryWriter::append(const EpochRecord& record) {
  epochs_ << format_line(record) << std::flush;
}

History read_history(const RunDir& run_dir) {
  History history;
  history.steps = read_csv<StepRecord>(run_dir.steps(), 5, [](const std::vector<double>& v) {
    return StepRecord{static_cast<int64_t>(v[0]), static_cast<int64_t>(v[1]), v[2], v[3], v[4]};
  });
  history.epochs = read_csv<EpochRecord>(run_dir.epochs(), 8, [](const std::vector<double>& v) {
    EpochRecord r;
    r.epoch = static_cast<int64_t>(v[0]);
    r.loss = v[1];
    r.accuracy = v[2];
    r.val_loss = v[3];
    r.val_accuracy = v[4];
    r.lr = v[5];
    r.seconds = v[6];
    r.steps = static_cast<int64_t>(v[7]);
    return r;
  });
  return history;
}

}  // namespace cnnlab
