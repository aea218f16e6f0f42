// The cnnlab command: a thin layer over the library that parses arguments, prints progress and
// turns errors into messages and exit codes.
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "cnnlab/error.h"
#include "cnnlab/training/device.h"
#include "commands.h"

namespace {

constexpr const char* kRunDataDirHelp =
    "Folder holding the datasets (default: the one the run was trained from, while it exists; "
    "else $CNNLAB_DATA, else ./data)";

constexpr const char* kDeviceHelp =
    "cpu, cuda (the first GPU), cuda:N, or auto (a GPU when LibTorch sees one, else the CPU)";

// --threads, --precision and --device, which every command that trains takes.
void add_speed_options(CLI::App* command, int& threads, std::string& precision,
                       std::string& device) {
  command->add_option("-j,--threads", threads, "LibTorch threads (0: one per core)");
  command
      ->add_option("--precision", precision,
                   "auto (bf16 where the CPU or GPU has native bfloat16, else fp32), fp32 or bf16")
      ->check(CLI::IsMember({"auto", "fp32", "bf16"}));
  command->add_option("--device", device,
                      std::string(kDeviceHelp) + " (default: the config's, cpu)");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cnnlab::cli;
  cnnlab::prefer_avx512_kernels();
  CLI::App app{"cnnlab: train convolutional image classifiers and see what they learned"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "cnnlab 0.1.0");

  TrainArgs train;
  auto* train_cmd = app.add_subcommand("train", "Train a model described by a config file");
  train_cmd->add_option("-c,--config", train.config, "Config file (TOML)");
  train_cmd->add_option("-s,--set", train.overrides,
                        "Override a config option, e.g. --set train.epochs=3 "
                        "--set model.layers.Conv1.kernel=5 (repeatable)");
  train_cmd->add_option("-o,--out", train.out, "Run directory (default: runs/<name>)");
  train_cmd->add_option("--resume", train.resume, "Continue the interrupted run in this directory");
  train_cmd->add_option("--data-dir", train.data_dir,
                        "Folder holding the datasets (default: with --resume, the one the run "
                        "was trained from; else $CNNLAB_DATA, else ./data)");
  add_speed_options(train_cmd, train.threads, train.precision, train.device);
  train_cmd
      ->add_option("--nproc", train.nproc,
                   "Train data-parallel in N processes on this machine (LibTorch's c10d with Gloo; "
                   "default 1)")
      ->check(CLI::Range(1, 256));
  train_cmd->add_flag("--no-report", train.no_report,
                      "Do not write report.html into the run directory at the end");
  // Hidden: the crash-safety tests kill a run at a chosen point with it.
  train_cmd
      ->add_option("--kill-at", train.kill_at,
                   "Kill this process (SIGKILL) at step:N (after global step N) or at report "
                   "(trained, before the report)")
      ->group("");

  EvaluateArgs evaluate;
  auto* evaluate_cmd = app.add_subcommand("evaluate", "Test loss and accuracy of a saved run");
  evaluate_cmd->add_option("run_dir", evaluate.run_dir, "Run directory")->required();
  evaluate_cmd->add_option("--checkpoint", evaluate.checkpoint, "best or last")
      ->check(CLI::IsMember({"best", "last"}));
  evaluate_cmd->add_option("--data-dir", evaluate.data_dir, kRunDataDirHelp);
  evaluate_cmd->add_option("--device", evaluate.device,
                           std::string(kDeviceHelp) + " (default cpu)");

  PredictArgs predict;
  auto* predict_cmd = app.add_subcommand("predict", "Classify PNG/JPEG/BMP files with a saved run");
  predict_cmd->add_option("run_dir", predict.run_dir, "Run directory")->required();
  predict_cmd->add_option("images", predict.images, "Image files")->required();
  predict_cmd->add_option("-k,--top", predict.top, "Show the k most probable classes");
  predict_cmd->add_option("--checkpoint", predict.checkpoint, "best or last")
      ->check(CLI::IsMember({"best", "last"}));
  predict_cmd->add_flag("--invert", predict.invert,
                        "Invert pixel values (dark digits on white paper for an MNIST model)");
  predict_cmd->add_option("--device", predict.device, std::string(kDeviceHelp) + " (default cpu)");
  auto* grad_cam_dir = predict_cmd->add_option(
      "--grad-cam", predict.grad_cam_dir,
      "Write a Grad-CAM picture of each image for its most probable class into this folder");
  predict_cmd
      ->add_option("--grad-cam-layer", predict.grad_cam_layer,
                   "Layer whose feature maps Grad-CAM weighs (default: the last conv layer)")
      ->needs(grad_cam_dir);

  ExportArgs export_args;
  auto* export_cmd = app.add_subcommand(
      "export",
      "Write a saved run's model as a PyTorch module with its weights (safetensors), or as a "
      "Keras 2 model with its weights (HDF5)");
  export_cmd->add_option("run_dir", export_args.run_dir, "Run directory")->required();
  export_cmd->add_option("-o,--out", export_args.out,
                         "Folder for model.py and the weights (default RUN_DIR/<format>)");
  export_cmd->add_option("--format", export_args.format, "pytorch (default) or keras")
      ->check(CLI::IsMember({"pytorch", "keras"}));
  export_cmd->add_option("--checkpoint", export_args.checkpoint, "best (default) or last")
      ->check(CLI::IsMember({"best", "last"}));

  SummaryArgs summary;
  auto* summary_cmd =
      app.add_subcommand("summary", "Print a Keras-style table of a config's model");
  summary_cmd->add_option("-c,--config", summary.config, "Config file (TOML)")->required();
  summary_cmd->add_option("-s,--set", summary.overrides, "Override a config option (repeatable)");
  summary_cmd->add_option("--data-dir", summary.data_dir, "Folder holding the datasets");

  ReportArgs report;
  auto* report_cmd = app.add_subcommand(
      "report", "Write an HTML report of one run, or of several runs compared side by side");
  report_cmd->add_option("run_dirs", report.run_dirs, "Run directories")->required();
  report_cmd->add_option("-o,--out", report.out,
                         "Report file (default: RUN_DIR/report.html for one run, "
                         "./report.html for several); chart data goes to <name>_data/");
  report_cmd
      ->add_option("--images", report.images,
                   "Test images whose feature maps are shown: numbers in the test set or class "
                   "names, comma-separated (default: the first two)")
      ->delimiter(',');
  report_cmd->add_option("--checkpoint", report.checkpoint, "last (default) or best")
      ->check(CLI::IsMember({"best", "last"}));
  report_cmd->add_option("--data-dir", report.data_dir, kRunDataDirHelp);
  report_cmd->add_option("--device", report.device,
                         std::string(kDeviceHelp) + " for the test-set predictions (default cpu)");
  report_cmd->add_option("--title", report.title, "Heading of the page");
  report_cmd->add_option("--gallery-size", report.gallery_size,
                         "Right and wrong test images shown per run (default 24)");
  report_cmd->add_option("--test-limit", report.test_limit,
                         "Analyse only the first N test images (default: all)");
  report_cmd->add_option("--grad-cam-layer", report.grad_cam_layer,
                         "Layer whose feature maps Grad-CAM weighs (default: the last conv layer)");

  SweepArgs sweep;
  auto* sweep_cmd = app.add_subcommand(
      "sweep", "Train every point of a sweep file (resuming where it stopped) and compare them");
  sweep_cmd->add_option("file", sweep.file, "Sweep file (TOML)")->required();
  sweep_cmd->add_option("-o,--out", sweep.out,
                        "Parent folder of the sweep's folder (default runs)");
  sweep_cmd->add_option("--data-dir", sweep.data_dir, "Folder holding the datasets");
  add_speed_options(sweep_cmd, sweep.threads, sweep.precision, sweep.device);
  sweep_cmd->add_flag("--quick", sweep.quick,
                      "A few hundred images and one epoch per point, into <name>-quick");

  StudyArgs study;
  auto* study_cmd = app.add_subcommand(
      "study", "Run a whole study (default: the CNN study of MNIST and CIFAR-10) into one report");
  study_cmd->add_option("file", study.file, "Study file (default: studies/cnn-study.toml)");
  study_cmd
      ->add_option("--part", study.parts,
                   "Run only these parts of the study (names, comma-separated), e.g. --part mnist")
      ->delimiter(',');
  study_cmd->add_option("-o,--out", study.out,
                        "Parent folder of the study's folder (default runs)");
  study_cmd->add_option("--data-dir", study.data_dir, "Folder holding the datasets");
  add_speed_options(study_cmd, study.threads, study.precision, study.device);
  study_cmd->add_flag("--quick", study.quick,
                      "A few hundred images and one epoch per run, into <name>-quick: the whole "
                      "path in about a minute");

  CLI11_PARSE(app, argc, argv);
  train.command.assign(argv, argv + argc);

  try {
    if (*train_cmd) return train_command(train);
    if (*evaluate_cmd) return evaluate_command(evaluate);
    if (*predict_cmd) return predict_command(predict);
    if (*summary_cmd) return summary_command(summary);
    if (*export_cmd) return export_command(export_args);
    if (*report_cmd) return report_command(report);
    if (*sweep_cmd) return sweep_command(sweep);
    if (*study_cmd) return study_command(study);
  } catch (const cnnlab::Error& e) {
    fmt::print(stderr, "cnnlab: error: {}\n", e.what());
    return kExitError;
  } catch (const c10::Error& e) {
    fmt::print(stderr, "cnnlab: error: {}\n", e.what_without_backtrace());
    return kExitError;
  } catch (const std::exception& e) {
    fmt::print(stderr, "cnnlab: error: {}\n", e.what());
    return kExitError;
  }
  return kExitError;
}
