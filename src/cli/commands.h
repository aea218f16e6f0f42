#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cnnlab::cli {

/// Exit codes of the cnnlab command.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitInterrupted = 130;

/// How reports name their writer.
constexpr const char* kGenerator = "cnnlab 0.1.0";

struct TrainArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string out;
  std::string resume;
  std::string data_dir;
  int threads = -1;
  std::string precision;  // empty: the config's
  std::string device;     // empty: the config's
  bool no_report = false;
  int nproc = 1;                     // processes of a data-parallel run on this machine
  std::vector<std::string> command;  // this command line, for the ranks --nproc starts
  std::string kill_at;  // a crash on purpose, for tests: "step:N" or "report" (empty: none)
};

struct ReportArgs {
  std::vector<std::string> run_dirs;
  std::string out;
  std::vector<std::string> images;
  std::string checkpoint = "last";
  std::string data_dir;
  std::string title;
  int64_t gallery_size = 24;
  int64_t test_limit = 0;
  std::string device = "cpu";
  std::string grad_cam_layer;
};

struct SweepArgs {
  std::string file;
  std::string out = "runs";
  std::string data_dir;
  int threads = -1;
  std::string precision;  // empty: the config's
  std::string device;     // empty: the config's
  bool quick = false;
};

struct StudyArgs {
  std::string file;
  std::vector<std::string> parts;
  std::string out = "runs";
  std::string data_dir;
  int threads = -1;
  std::string precision;  // empty: the config's
  std::string device;     // empty: the config's
  bool quick = false;
};

struct EvaluateArgs {
  std::string run_dir;
  std::string checkpoint = "best";
  std::string data_dir;
  std::string device = "cpu";
};

struct PredictArgs {
  std::string run_dir;
  std::vector<std::string> images;
  std::string checkpoint = "best";
  int top = 3;
  bool invert = false;
  std::string device = "cpu";
  std::string grad_cam_dir;  // empty: no Grad-CAM pictures
  std::string grad_cam_layer;
};

struct ExportArgs {
  std::string run_dir;
  std::string out;  // empty: RUN_DIR/<format>
  std::string checkpoint = "best";
  std::string format = "pytorch";
};

struct SummaryArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string data_dir;
};

int train_command(const TrainArgs& args);
int evaluate_command(const EvaluateArgs& args);
int predict_command(const PredictArgs& args);
int summary_command(const SummaryArgs& args);
int export_command(const ExportArgs& args);
int report_command(const ReportArgs& args);
int sweep_command(const SweepArgs& args);
int study_command(const StudyArgs& args);

}  // namespace cnnlab::cli
