#include "commands.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cnnlab/app/experiment_jobs.h"
#include "cnnlab/app/run_jobs.h"
#include "cnnlab/app/train_job.h"
#include "cnnlab/config/run_config.h"
#include "cnnlab/error.h"
#include "cnnlab/models/summary.h"
#include "cnnlab/report/report.h"
#include "cnnlab/run/run.h"
#include "cnnlab/training/device.h"
#include "cnnlab/training/distributed.h"
#include "launcher.h"
#include "progress_bar.h"

namespace cnnlab::cli {
namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_stop_requested{false};

extern "C" void handle_stop_signal(int /*signal*/) {
  g_stop_requested = true;
  // A second Ctrl-C ends the process at once.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

TrainerCallbacks progress_callbacks(ProgressBar& bar) {
  TrainerCallbacks callbacks;
  callbacks.on_epoch_begin = [&bar](int64_t epoch, int64_t epochs, int64_t steps) {
    bar.epoch_begin(epoch, epochs, steps);
  };
  callbacks.on_step_end = [&bar](const StepEvent& event) { bar.step(event); };
  callbacks.on_epoch_end = [&bar](const EpochRecord& record) { bar.epoch_end(record); };
  callbacks.on_test_batch_end = [&bar](int64_t done, int64_t total) {
    bar.test_batch(done, total);
  };
  // Keras' ReduceLROnPlateau(verbose=1) and EarlyStopping(verbose=1) lines.
  callbacks.on_learning_rate_reduced = [](int64_t epoch, double lr) {
    fmt::print("Epoch {}: ReduceLROnPlateau reducing learning rate to {:g}.\n", epoch, lr);
  };
  callbacks.on_early_stop = [](const EarlyStoppingVerdict& verdict) {
    fmt::print("Epoch {}: early stopping (best epoch: {})\n", verdict.stopped_epoch,
               verdict.best_epoch);
  };
  callbacks.on_best_weights_restored = [](const EarlyStoppingVerdict& verdict) {
    fmt::print("Restoring model weights from the end of the best epoch: {}.\n", verdict.best_epoch);
  };
  callbacks.on_batch_skipped = [](const StepEvent& event, double loss) {
    fmt::print(stderr,
               "\ncnnlab: warning: epoch {}, step {}: the loss is {}; batch skipped "
               "(train.nonfinite_loss = \"skip\")\n",
               event.epoch + 1, event.step, loss);
  };
  callbacks.on_warning = [](const std::string& message) {
    fmt::print(stderr, "\ncnnlab: warning: {}\n", message);
  };
  callbacks.stop_requested = [] { return g_stop_requested.load(); };
  return callbacks;
}

// --data-dir when given, else $CNNLAB_DATA, else ./data.
DataRoot data_root_from(const std::string& flag) {
  const char* environment = std::getenv("CNNLAB_DATA");
  return resolve_data_root(flag, environment != nullptr ? environment : "");
}

// Where the datasets of a saved run are: --data-dir when given, else the data root the run was
// trained from (while it still exists), else $CNNLAB_DATA, else ./data.
DataRoot data_root_of_run(const std::string& flag, const fs::path& run_dir) {
  return cnnlab::data_root_of_run(flag, run_dir, data_root_from(""));
}

// Where --kill-at stops a run: after a global step, or once trained, before the report.
struct KillPoint {
  int64_t step = 0;     // 0: no step
  bool report = false;  // trained, before the report
};

KillPoint parse_kill_point(const std::string& text) {
  KillPoint point;
  if (text.empty()) return point;
  if (text == "report") {
    point.report = true;
    return point;
  }
  if (text.rfind("step:", 0) == 0) {
    try {
      std::size_t used = 0;
      point.step = std::stoll(text.substr(5), &used);
      if (used == text.size() - 5 && point.step > 0) return point;
    } catch (const std::exception&) {
    }
  }
  throw ConfigError(fmt::format(
      "--kill-at: expected step:N (N a positive whole number) or report, found '{}'", text));
}

// A crash as kill -9 makes it: no handler runs, no buffer is flushed by the process itself.
[[noreturn]] void kill_now() {
  std::raise(SIGKILL);
  std::_Exit(137);
}

// Adds --kill-at's step to the callbacks.
TrainerCallbacks with_kill_point(TrainerCallbacks callbacks, const KillPoint& point) {
  if (point.step == 0) return callbacks;
  callbacks.on_step_end = [inner = callbacks.on_step_end, step = point.step](const StepEvent& e) {
    if (inner) inner(e);
    if (e.global_step == step) kill_now();
  };
  return callbacks;
}

// Warnings of the data loader on stderr, and a progress line while a large image folder decodes.
LoadCallbacks loading_callbacks() {
  LoadCallbacks callbacks;
  callbacks.warn = [](const std::string& message) {
    fmt::print(stderr, "cnnlab: warning: {}\n", message);
  };
  callbacks.progress = [](int64_t done, int64_t total) {
    if (total < 2000) return;
    const bool tty = isatty(fileno(stderr)) != 0;
    if (tty) {
      fmt::print(stderr, "\rDecoding images: {}/{}", done, total);
      if (done == total) fmt::print(stderr, "\n");
    } else if (done == total) {
      fmt::print(stderr, "Decoded {} images\n", total);
    }
  };
  return callbacks;
}

// The exit status of a run, without a word (the ranks of a distributed run but rank 0).
int exit_status(const RunResult& result) {
  return result.status == FitStatus::kInterrupted ? kExitInterrupted : kExitOk;
}

int print_result(const RunResult& result, ProgressBar& bar) {
  if (result.status == FitStatus::kInterrupted) {
    fmt::print(stderr,
               "\nStopped: the run is saved in {}.\nContinue it with: cnnlab train --resume {}\n",
               result.run_dir.string(), result.run_dir.string());
    return kExitInterrupted;
  }
  bar.test_end(result.test.loss, result.test.accuracy);
  fmt::print("Test loss: {:.4f}\n", result.test.loss);
  fmt::print("Test accuracy: {:.4f}\n", result.test.accuracy);
  fmt::print("Trained {} epochs in {} ({:.0f} images/s). Run saved in {}\n", result.epochs_done,
             format_duration(result.train_seconds), result.images_per_second,
             result.run_dir.string());
  return kExitOk;
}

// The device a resumed run trains on: --device, else its config's.
std::string device_of_run(const fs::path& run_dir, const std::string& device) {
  return device.empty() ? load_config_file(RunDir(run_dir).config()).train.device() : device;
}

// studies/cnn-study.toml in the working folder, else in the source tree the binary was built in.
fs::path default_study_file() {
  const fs::path name = fs::path("studies") / "cnn-study.toml";
  std::vector<fs::path> tried{name};
  std::error_code error;
  const fs::path exe = fs::read_symlink("/proc/self/exe", error);
  if (!error) {
    for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path();
         dir = dir.parent_path()) {
      tried.push_back(dir / name);
      if (tried.size() > 4) break;
    }
  }
  for (const auto& path : tried) {
    if (fs::exists(path)) return path;
  }
  std::vector<std::string> where;
  for (const auto& path : tried) where.push_back(path.string());
  throw ConfigError(
      fmt::format("study: no study file given and none found at {}; give one: "
                  "cnnlab study FILE",
                  fmt::join(where, ", ")));
}

// Progress of a sweep or a study: which run of how many, and the time left.
ExperimentCallbacks plan_callbacks(ProgressBar& bar) {
  ExperimentCallbacks callbacks;
  callbacks.trainer = progress_callbacks(bar);
  callbacks.loading = loading_callbacks();
  callbacks.on_run_begin = [](std::size_t index, std::size_t total, const PlannedRun& run,
                              const TimeLeft& time_left) {
    std::string left;
    if (time_left.seconds > 0) left = "about " + format_duration(time_left.seconds) + " left";
    if (time_left.untimed > 0) {
      left += fmt::format("{}{} run{} not timed yet", left.empty() ? "" : ", plus ",
                          time_left.untimed, time_left.untimed == 1 ? "" : "s");
    }
    if (left.empty()) left = "nothing left to train";
    fmt::print("\n== run {} of {}: {} ({}) ==\n", index + 1, total, run.label, left);
    std::fflush(stdout);
  };
  callbacks.on_run_end = [](const RunOutcome& outcome) {
    switch (outcome.status) {
      case RunStatus::kAlreadyDone:
        fmt::print("Already done in {} (test accuracy {:.4f})\n", outcome.run.run_dir.string(),
                   outcome.metrics.value("test_accuracy", 0.0));
        break;
      case RunStatus::kFailed:
        fmt::print(stderr, "cnnlab: this run failed, the others go on: {}\n", outcome.error);
        break;
      case RunStatus::kCannotBuild:
        fmt::print("This model cannot be built (nor can Keras build it); the others go on: {}\n",
                   outcome.error);
        break;
      case RunStatus::kTrained:
        fmt::print("Test accuracy: {:.4f} · {}\n", outcome.metrics.value("test_accuracy", 0.0),
                   outcome.run.run_dir.string());
        break;
      default:
        break;
    }
    std::fflush(stdout);
  };
  return callbacks;
}

std::vector<std::string> common_overrides(int threads, const std::string& precision,
                                          const std::string& device, bool quick) {
  std::vector<std::string> overrides;
  if (threads >= 0) overrides.push_back(fmt::format("train.threads={}", threads));
  if (!precision.empty()) overrides.push_back(fmt::format("train.precision={}", precision));
  if (!device.empty()) overrides.push_back(fmt::format("train.device={}", device));
  if (quick) {
    for (auto& o : quick_study_overrides()) overrides.push_back(o);
  }
  return overrides;
}

StudySpec only_parts(StudySpec spec, const std::vector<std::string>& names, const fs::path& file) {
  std::vector<StudyPart> kept;
  for (const auto& name : names) {
    const auto it = std::find_if(spec.parts.begin(), spec.parts.end(),
                                 [&](const StudyPart& p) { return p.name == name; });
    if (it == spec.parts.end()) {
      std::vector<std::string> known;
      for (const auto& p : spec.parts) known.push_back(p.name);
      throw ConfigError(fmt::format("--part: {} has no part '{}' (its parts: {})", file.string(),
                                    name, fmt::join(known, ", ")));
    }
    kept.push_back(*it);
  }
  spec.parts = kept;
  return spec;
}

int finish_experiment(const ExperimentOutcome& outcome, const std::string& command) {
  if (outcome.interrupted) {
    fmt::print(stderr,
               "\nStopped. Finished runs are kept; run the same command again to go on:\n  {}\n",
               command);
    return kExitInterrupted;
  }
  std::size_t failed = 0, impossible = 0;
  for (const auto& run : outcome.runs) {
    failed += run.status == RunStatus::kFailed ? 1 : 0;
    impossible += run.status == RunStatus::kCannotBuild ? 1 : 0;
  }
  fmt::print("\n{} runs, {} failed{}. Written: {}\n", outcome.runs.size(), failed,
             impossible > 0 ? fmt::format(", {} cannot be built", impossible) : "",
             outcome.page.string());
  return kExitOk;
}

std::string command_line(const char* command, const std::string& file, bool quick,
                         const std::string& out) {
  std::string line = fmt::format("cnnlab {}", command);
  if (!file.empty()) line += " " + file;
  if (quick) line += " --quick";
  if (out != "runs") line += " --out " + out;
  return line;
}

}  // namespace

int sweep_command(const SweepArgs& args) {
  std::signal(SIGINT, handle_stop_signal);
  std::signal(SIGTERM, handle_stop_signal);
  ProgressBar bar(stdout);
  const DataRoot root = data_root_from(args.data_dir);
  SweepSpec spec = load_sweep_file(args.file);
  for (auto& o : common_overrides(args.threads, args.precision, args.device, args.quick))
    spec.set.push_back(o);
  const fs::path dir = fs::path(args.out) / (spec.name + (args.quick ? "-quick" : ""));
  fmt::print("Sweep '{}': {} runs into {}\n", spec.name, expand_sweep(spec).size(), dir.string());
  ExperimentCallbacks callbacks = plan_callbacks(bar);
  if (args.quick) callbacks.analysis.gallery_size(12).saliency_count(4);
  return finish_experiment(run_sweep(spec, dir, root, callbacks),
                           command_line("sweep", args.file, args.quick, args.out));
}

int study_command(const StudyArgs& args) {
  std::signal(SIGINT, handle_stop_signal);
  std::signal(SIGTERM, handle_stop_signal);
  ProgressBar bar(stdout);
  const DataRoot root = data_root_from(args.data_dir);
  const fs::path file = args.file.empty() ? default_study_file() : fs::path(args.file);
  StudySpec spec = load_study_file(file);
  if (!args.parts.empty()) spec = only_parts(spec, args.parts, file);
  const fs::path dir = fs::path(args.out) / (spec.name + (args.quick ? "-quick" : ""));
  const auto extra = common_overrides(args.threads, args.precision, args.device, args.quick);
  fmt::print("Study '{}': {} runs into {}{}\n", spec.title,
             plan_study(spec, dir, extra).runs.size(), dir.string(),
             args.quick ? " (quick: a few hundred images, one epoch)" : "");
  ExperimentCallbacks callbacks = plan_callbacks(bar);
  if (args.quick) callbacks.analysis.gallery_size(12).saliency_count(4);
  std::string again = command_line("study", args.file, args.quick, args.out);
  if (!args.parts.empty()) again += fmt::format(" --part {}", fmt::join(args.parts, ","));
  return finish_experiment(run_study(spec, dir, root, args.quick, callbacks, extra), again);
}

// The process group of a distributed run started by --nproc or torchrun (null: one process).
// Ranks other than 0 print nothing on standard output.
std::shared_ptr<ProcessGroup> join_process_group() {
  const auto options = distributed_from_environment();
  if (!options || options->world_size == 1) return nullptr;
  auto group = std::make_shared<ProcessGroup>(*options);
  if (group->rank() > 0 && std::freopen("/dev/null", "w", stdout) == nullptr) {
    std::fprintf(stderr, "warning: rank %d could not silence its standard output\n",
                 static_cast<int>(group->rank()));
  }
  return group;
}

int train_ranks(const TrainArgs& args, const std::shared_ptr<ProcessGroup>& group);

// What every rank of `--nproc N` would refuse is said once, before any rank starts: a cnnlab
// without c10d, a config that does not load, a GPU device.
void check_before_launch(const TrainArgs& args) {
  if (!distributed_built()) {
    throw ConfigError(fmt::format(
        "--nproc {}: this cnnlab was built without LibTorch's distributed engine (c10d with "
        "Gloo); install libgloo-dev and rebuild (CMake option CNNLAB_DISTRIBUTED, on by default)",
        args.nproc));
  }
  std::string device = args.device;
  if (device.empty() && !args.resume.empty()) {
    if (RunDir(args.resume).holds_run()) device = device_of_run(args.resume, "");
  } else if (device.empty() && !args.config.empty()) {
    device = load_config_file(args.config, args.overrides).train.device();
  }
  if (!device.empty() && resolve_device(device, "--device").is_cuda()) {
    throw ConfigError(fmt::format(
        "--nproc {}: training across processes runs on the CPU (Gloo), and the device is '{}'; "
        "use --device cpu, or one process for a GPU",
        args.nproc, device));
  }
}

int train_command(const TrainArgs& args) {
  if (args.nproc > 1 && std::getenv("WORLD_SIZE") == nullptr) {
    check_before_launch(args);
    // The LibTorch threads are shared out among the ranks unless --threads says otherwise.
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return launch_ranks(args.nproc, args.command, args.threads < 0, std::max(1, cores / args.nproc),
                        /*grace_seconds=*/5);
  }
  const auto group = join_process_group();
  try {
    return train_ranks(args, group);
  } catch (const Error& e) {
    if (!group) throw;
    throw Error(fmt::format("rank {}: {}", group->rank(), e.what()));
  } catch (const std::exception& e) {
    if (!group) throw;
    // A failed exchange (Gloo's errors: a peer closed the connection, or the timeout passed)
    // means another process stopped, hangs or cannot be reached.
    const std::string message = torch_error_message(e);
    const bool exchange = message.find("gloo") != std::string::npos ||
                          message.find("Timed out") != std::string::npos ||
                          message.find("Connection") != std::string::npos;
    throw Error(fmt::format("rank {}: {}{}", group->rank(),
                            exchange ? "lost the other processes of the run: " : "", message));
  }
}

int train_ranks(const TrainArgs& args, const std::shared_ptr<ProcessGroup>& group) {
  std::signal(SIGINT, handle_stop_signal);
  std::signal(SIGTERM, handle_stop_signal);
  ProgressBar bar(stdout);
  const bool lead = !group || group->rank() == 0;
  const KillPoint kill_point = parse_kill_point(args.kill_at);
  TrainJob job;
  if (!args.resume.empty()) {
    if (!args.config.empty() || !args.overrides.empty() || !args.out.empty()) {
      throw ConfigError(
          "--resume continues a run with its own config; drop --config, --set and --out");
    }
    job.run_dir = RunDir(args.resume);
    job.device = args.device;
    job.root = data_root_of_run(args.data_dir, args.resume);
    fmt::print("Resuming {}\n", args.resume);
    if (job.run_dir.holds_run() && !fs::exists(job.run_dir.checkpoint(CheckpointKind::kLast))) {
      fmt::print("No checkpoint was saved before the run stopped: training from the beginning\n");
    }
  } else {
    if (args.config.empty()) throw ConfigError("train: give --config FILE, or --resume RUN_DIR");
    std::vector<std::string> overrides = args.overrides;
    for (auto& o : common_overrides(args.threads, args.precision, args.device, false))
      overrides.push_back(o);
    const RunConfig& config = job.config.emplace(load_config_file(args.config, overrides));
    job.run_dir = new_run_dir(config, args.out);
    // Every rank trains into the directory rank 0 chose.
    if (group) job.run_dir = RunDir(group->share("cnnlab/run_dir", job.run_dir.string()));
    job.root = data_root_from(args.data_dir);
    const torch::Device device = resolve_device(config.train.device(), "--device");
    fmt::print(
        "Training '{}' on {} in {} on {}{}; run directory {}\n", config.name, config.data.dataset(),
        precision_name(resolve_precision(config.train.precision(), device)),
        device_description(device),
        group ? fmt::format(" × {} processes", group->world_size()) : "", job.run_dir.string());
  }
  job.group = group;
  job.callbacks = with_kill_point(progress_callbacks(bar), kill_point);
  if (job.config) {
    // Keras users print model.summary() before fit(): the model as bound to the dataset.
    job.callbacks.on_train_begin = [name = job.config->name](Trainer& trainer) {
      fmt::print("{}", model_summary(trainer.network()->spec(), name));
      std::fflush(stdout);
    };
  }
  job.loading = loading_callbacks();
  job.report = !args.no_report;
  job.report_options.generator(kGenerator);
  int status = kExitOk;
  job.on_trained = [&](const RunResult& result) {
    status = lead ? print_result(result, bar) : exit_status(result);
    if (kill_point.report) kill_now();
  };
  const TrainJobResult done = run_train_job(std::move(job));
  if (!done.report.empty()) fmt::print("Report: {}\n", done.report.string());
  if (!done.report_error.empty()) {
    fmt::print(stderr,
               "cnnlab: error: the run is saved, but its report could not be written: {}\n"
               "Write it later with: cnnlab report {}\n",
               done.report_error, done.run.run_dir.string());
    return kExitError;
  }
  return status;
}

int report_command(const ReportArgs& args) {
  AnalysisOptions options;
  options.checkpoint(args.checkpoint)
      .device(args.device)
      .images(args.images)
      .gallery_size(args.gallery_size)
      .test_limit(args.test_limit)
      .grad_cam_layer(args.grad_cam_layer);
  fs::path out = args.out;
  if (out.empty()) {
    out = args.run_dirs.size() == 1 ? RunDir(args.run_dirs.front()).report()
                                    : fs::path(RunDir().report().filename());
  }
  const std::vector<fs::path> run_dirs(args.run_dirs.begin(), args.run_dirs.end());
  const fs::path data_dir = report_runs(
      run_dirs, [&](const RunDir& dir) { return data_root_of_run(args.data_dir, dir.path()); },
      options, out, ReportOptions().title(args.title).generator(kGenerator), loading_callbacks(),
      [](const RunDir& dir) {
        fmt::print("Analysing {}\n", dir.string());
        std::fflush(stdout);
      });
  fmt::print("Report written to {} (chart data in {})\n", out.string(), data_dir.string());
  return kExitOk;
}

int evaluate_command(const EvaluateArgs& args) {
  ProgressBar bar(stdout);
  const EvalResult result = evaluate_run(
      args.run_dir, args.checkpoint, args.device, data_root_of_run(args.data_dir, args.run_dir),
      loading_callbacks(), [&bar](int64_t done, int64_t total) { bar.test_batch(done, total); });
  bar.test_end(result.loss, result.accuracy);
  fmt::print("Test loss: {:.4f}\n", result.loss);
  fmt::print("Test accuracy: {:.4f}\n", result.accuracy);
  return kExitOk;
}

int predict_command(const PredictArgs& args) {
  PredictOptions options;
  options.checkpoint = args.checkpoint;
  options.device = args.device;
  options.top = args.top;
  options.invert = args.invert;
  options.grad_cam_dir = args.grad_cam_dir;
  options.grad_cam_layer = args.grad_cam_layer;
  const std::vector<fs::path> files(args.images.begin(), args.images.end());
  for (const auto& prediction : predict_run(args.run_dir, files, options)) {
    fmt::print("{}\n", prediction.file.string());
    for (const auto& [name, probability] : prediction.top) {
      fmt::print("  {:<16} {:.4f}\n", name, probability);
    }
    if (prediction.grad_cam.empty()) continue;
    fmt::print("  Grad-CAM of {} in {}: {}\n", prediction.top.front().first,
               prediction.grad_cam_layer, prediction.grad_cam.string());
  }
  return kExitOk;
}

int export_command(const ExportArgs& args) {
  const ExportedFiles files =
      export_run(args.run_dir, args.checkpoint, args.out, kGenerator, args.format);
  fmt::print("Wrote {} (the model, {} checkpoint) and {}\n", files.model_py.string(),
             args.checkpoint, files.weights.string());
  fmt::print("In Python ({}): import model; net = model.load()  (see the top of model.py)\n",
             args.format == "keras" ? "Keras 2" : "PyTorch");
  return kExitOk;
}

int summary_command(const SummaryArgs& args) {
  fmt::print("{}", summarize_config(args.config, args.overrides, data_root_from(args.data_dir)));
  return kExitOk;
}

}  // namespace cnnlab::cli
