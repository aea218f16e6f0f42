#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cnnlab/config/run_config.h"
#include "cnnlab/data/data_root.h"
#include "cnnlab/run/run_dir.h"
#include "cnnlab/training/evaluate.h"
#include "cnnlab/training/trainer.h"

namespace cnnlab {

/// A trained model: read back from a run directory, or as training left it.
struct LoadedRun {
  RunConfig config;
  Network network{nullptr};
  Normalization normalization;
};

/// What train_run and resume_run did (the files of a run directory: see RunDir).
struct RunResult {
  std::filesystem::path run_dir;
  FitStatus status = FitStatus::kCompleted;
  EvalResult test;
  int64_t epochs_done = 0;
  double train_seconds = 0;
  double images_per_second = 0;
  int64_t params = 0;
  /// Early stopping's verdict on the run (all zero when it is disabled).
  EarlyStoppingVerdict early_stopping;
  /// The model as training left it (the weights of the last checkpoint), with its config bound
  /// to the dataset: what load_run(run_dir, "last") would read back.
  LoadedRun model;
};

/// `parent/name`, or `parent/name-2`, `-3`, … when that exists already.
std::filesystem::path fresh_run_dir(const std::filesystem::path& parent, const std::string& name);

/// Number of LibTorch threads a config asks for (0 means one per core) — applied by train_run,
/// which also calls keep_freed_memory().
int64_t apply_thread_setting(int64_t threads);

/// Makes the C library's allocator keep the memory that tensors free for the next step, instead
/// of handing blocks of 128 KiB and more back to the system at once: a training step frees and
/// allocates the same activations every time, and fresh pages from the system cost a page fault
/// each (measured on the study's MNIST model: 1.7x faster steps). Memory is returned at exit.
/// Glibc only; elsewhere it does nothing. Safe to call more than once.
void keep_freed_memory();

/// Loads the data, builds the model, trains it into `run_dir` (created; must not hold a run
/// already) and evaluates it on the test set. With `group`, every process of it calls this;
/// rank 0 alone creates and writes `run_dir`, and all test a share of the test set. When the fit is
/// interrupted, returns with status kInterrupted and no test metrics; `resume_run` continues it.
/// Throws ConfigError, DatasetNotFoundError, DataFormatError, IoError, DivergenceError.
RunResult train_run(RunConfig config, const DataRoot& root, const RunDir& run_dir,
                    const TrainerCallbacks& callbacks = {}, const LoadCallbacks& loading = {},
                    std::shared_ptr<ProcessGroup> group = nullptr);

/// Continues the run in `run_dir` from checkpoints/last.pt with its own config.toml, on
/// `device` when one is given (else the config's train.device), across the processes of `group`
/// when there is one. Throws CheckpointError when there is nothing to resume.
RunResult resume_run(const RunDir& run_dir, const DataRoot& root,
                     const TrainerCallbacks& callbacks = {}, const LoadCallbacks& loading = {},
                     const std::string& device = "", std::shared_ptr<ProcessGroup> group = nullptr);

/// How the run `planned` describes differs from the run already in `run_dir`: the first line of
/// their resolved configs that differs, with its table ("[train] l2 = 0.01 in the run, l2 = 0.001
/// now"), or "" when they train the same run. What the dataset fills in (input shape, classes,
/// computed normalisation), the thread count, the device and the output folder do not count: they
/// do not change what is trained. Throws ConfigError when the run's config.toml cannot be read.
std::string changed_options(const RunDir& run_dir, RunConfig planned);

/// The data root a run was trained from: train_run records it in the run directory as an absolute
/// path, so that evaluating, reporting or resuming the run finds its dataset without being told
/// again. Empty for a run that holds no record (runs written before cnnlab kept one).
std::filesystem::path recorded_data_root(const RunDir& run_dir);

/// Reads config.toml and the `checkpoint` ("best" or "last") of `run_dir`, with the network on
/// `device` ("cpu", "cuda", "cuda:N" or "auto"). Throws ConfigError or CheckpointError naming the
/// file or option.
LoadedRun load_run(const RunDir& run_dir, const std::string& checkpoint,
                   const std::string& device = "cpu");

struct Prediction {
  std::filesystem::path file;
  /// (class index, probability), most probable first.
  std::vector<std::pair<int64_t, double>> top;
};

/// Classifies image files with a loaded run: each is converted to the model's input channels and
/// size, then scaled as in training. `invert` flips pixel values (for dark-on-light drawings
/// given to a model trained on MNIST's light-on-dark digits).
std::vector<Prediction> predict_files(LoadedRun& run,
                                      const std::vector<std::filesystem::path>& files,
                                      int64_t top_k, bool invert);

/// Grad-CAM of an image file for `target_class`, to look at: the file read as for predict_files,
/// the map of `spec.layers[layer]` (see grad_cam_layer) laid over the image read again at a
/// whole multiple of the model's input size, at least kGradCamPictureSize pixels on its longer
/// side, so that a 28×28 model still gives a picture one can see. Returns [3, H, W] uint8.
torch::Tensor grad_cam_picture(LoadedRun& run, const std::filesystem::path& file,
                               int64_t target_class, std::size_t layer, bool invert);

constexpr int64_t kGradCamPictureSize = 224;

}  // namespace cnnlab
