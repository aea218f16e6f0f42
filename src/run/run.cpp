#include "cnnlab/run/run.h"

#include <fmt/format.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "cnnlab/analysis/grad_cam.h"
#include "cnnlab/analysis/pictures.h"
#include "cnnlab/data/image_file.h"
#include "cnnlab/error.h"
#include "cnnlab/io/atomic_file.h"
#include "cnnlab/models/summary.h"
#include "cnnlab/run/checkpoint.h"
#include "cnnlab/run/metrics.h"
#include "cnnlab/run/run_writer.h"
#include "cnnlab/training/device.h"

namespace cnnlab {
namespace fs = std::filesystem;

namespace {

int64_t parameter_count(Network& network) {
  int64_t n = 0;
  for (const auto& p : network->parameters()) n += p.numel();
  return n;
}

// Fills the parts of the config that come from the dataset and checks that they agree with what
// the config file states.
void bind_to_dataset(RunConfig& config, const LoadedData& data) {
  const std::array<int64_t, 3> input{data.train.channels(), data.train.height(),
                                     data.train.width()};
  config.model.input = input;
  config.model.num_classes = data.train.num_classes();
  config.class_names = data.train.class_names;
  if (data.normalization.enabled()) {
    config.data.mean(data.normalization.mean).std(data.normalization.std);
  }
}

// The processor's model name, as /proc/cpuinfo gives it on Linux ("unknown" elsewhere).
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
  }
  return "unknown";
}

nlohmann::json machine_description() {
  return {{"cpu", cpu_model()},
          {"cores", std::thread::hardware_concurrency()},
          {"libtorch", TORCH_VERSION},
          {"cpu_kernels", cpu_kernels()},
          {"cuda", torch::cuda::is_available()}};
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// `started`: when an uninterrupted run began (before its data loaded); a resumed run has none.
RunResult finish(const RunDir& run_dir, RunConfig& config, Trainer& trainer, const LoadedData& data,
                 FitStatus status, const TrainerCallbacks& callbacks,
                 std::optional<Clock::time_point> started) {
  RunResult result;
  result.run_dir = run_dir.path();
  result.status = status;
  result.params = parameter_count(trainer.network());
  result.epochs_done = static_cast<int64_t>(trainer.history().epochs.size());
  result.early_stopping = trainer.early_stopping();
  int64_t images = 0;
  for (const auto& epoch : trainer.history().epochs) {
    result.train_seconds += epoch.seconds;
    images += std::min(epoch.steps * config.train.batch_size(), data.train.size());
  }
  result.images_per_second = result.train_seconds > 0 ? images / result.train_seconds : 0;
  result.model =
      LoadedRun{config, trainer.network(), Normalization{config.data.mean(), config.data.std()}};
  if (status != FitStatus::kCompleted) return result;
  // The processes of a distributed run test a share of the set each; rank 0 writes the metrics.
  ProcessGroup* group = trainer.process_group();
  const auto test_start = Clock::now();
  result.test =
      evaluate(trainer.network(), data.test, data.normalization, config.train.eval_batch_size(),
               config.train.precision(), group, callbacks.on_test_batch_end, config.train.tta());
  if (group && group->rank() != 0) return result;
  nlohmann::json metrics = {
      {"test_accuracy", result.test.accuracy},
      {"test_loss", result.test.loss},
      {"test_count", result.test.count},
      {"epochs", result.epochs_done},
      {"best_val_accuracy", trainer.state().best_val_accuracy},
      {"final_val_accuracy",
       trainer.history().epochs.empty() ? 0.0 : trainer.history().epochs.back().val_accuracy},
      {"params", result.params},
      {"train_seconds", result.train_seconds},
      {"train_images_per_second", result.images_per_second},
      {"threads", torch::get_num_threads()},
      {"precision", precision_name(resolve_precision(config.train.precision(), trainer.device()))},
      {"device", device_description(trainer.device())},
      {"processes", group ? group->world_size() : 1},
      {"machine", machine_description()},
  };
  metrics["test_seconds"] = seconds_since(test_start);
  if (started) metrics["wall_seconds"] = seconds_since(*started);
  if (const auto& stopping = config.train.early_stopping(); stopping.enabled()) {
    const auto& verdict = result.early_stopping;
    metrics["early_stopping"] = {
        {"monitor", stopping.monitor()},
        {"best_epoch", verdict.best_epoch},
        {"best_value", verdict.best_value},
        {"stopped_epoch", verdict.stopped_epoch},
        {"restored_best_weights", stopping.restore_best_weights() && verdict.best_epoch > 0 &&
                                      verdict.best_epoch != result.epochs_done},
    };
  }
  write_metrics(run_dir, metrics);
  return result;
}

Network build_network(const RunConfig& config) {
  torch::manual_seed(config.train.seed());
  return Network(config.model);
}

// Trains with a RunWriter on the process that writes the run directory.
FitStatus fit_run(Trainer& trainer, const RunDir& run_dir, const LoadedData& data,
                  const TrainerCallbacks& functions) {
  const bool writes = !trainer.process_group() || trainer.process_group()->rank() == 0;
  RunWriter writer(run_dir);
  LambdaCallback user(functions);
  CallbackList callbacks{writes ? &writer : nullptr, &user};
  try {
    return trainer.fit(data.train, data.validation, data.normalization, callbacks);
  } catch (const CheckpointError& e) {
    // The trainer's only one: the best epoch's weights, which a resumed run reads from here,
    // are not at hand.
    throw CheckpointError(run_dir.checkpoint(CheckpointKind::kBest).string() + ": " + e.what());
  }
}

}  // namespace

fs::path fresh_run_dir(const fs::path& parent, const std::string& name) {
  fs::path dir = parent / name;
  for (int i = 2; fs::exists(dir); ++i) dir = parent / fmt::format("{}-{}", name, i);
  return dir;
}

void keep_freed_memory() {
#if defined(__GLIBC__)
  // Blocks up to 32 MiB (glibc's maximum) come from the heap rather than from their own mapping,
  // and the heap's free top is only returned to the system past 1 GiB.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

int64_t apply_thread_setting(int64_t threads) {
  keep_freed_memory();
  const int64_t n =
      threads > 0 ? threads : std::max<int64_t>(1, std::thread::hardware_concurrency());
  torch::set_num_threads(static_cast<int>(n));
  return n;
}

RunResult train_run(RunConfig config, const DataRoot& root, const RunDir& run_dir,
                    const TrainerCallbacks& callbacks, const LoadCallbacks& loading,
                    std::shared_ptr<ProcessGroup> group) {
  const auto started = Clock::now();
  apply_thread_setting(config.threads);
  LoadedData data = load_data(config.data, root, loading);
  bind_to_dataset(config, data);
  Network network = build_network(config);
  if (!group || group->rank() == 0) {
    ensure_writable_directory(run_dir.path());
    if (run_dir.holds_run()) {
      throw IoError(
          fmt::format("{}: already holds a run; choose another --out, or continue it with "
                      "--resume {}",
                      run_dir.string(), run_dir.string()));
    }
    write_file_atomically(run_dir.summary(), model_summary(config.model, config.name));
    write_file_atomically(run_dir.config(), to_toml(config));
    if (!root.path.empty()) {
      write_file_atomically(run_dir.data_root(),
                            fs::absolute(root.path).lexically_normal().string() + "\n");
    }
  }
  // The other processes start once rank 0 has the run directory ready (or fail when it failed).
  if (group) group->share("cnnlab/run_ready", "yes");
  Trainer trainer(network, config.train, std::move(group));
  const FitStatus status = fit_run(trainer, run_dir, data, callbacks);
  return finish(run_dir, config, trainer, data, status, callbacks, started);
}

RunResult resume_run(const RunDir& run_dir, const DataRoot& root, const TrainerCallbacks& callbacks,
                     const LoadCallbacks& loading, const std::string& device,
                     std::shared_ptr<ProcessGroup> group) {
  if (!run_dir.holds_run()) {
    throw CheckpointError(fmt::format("{}: not a run directory (no {})", run_dir.string(),
                                      run_dir.config().filename().string()));
  }
  RunConfig config = load_config_file(run_dir.config());
  if (!device.empty()) {
    check_device_spelling(device, "--device");
    config.train.device(device);
  }
  apply_thread_setting(config.threads);
  LoadedData data = load_data(config.data, root, loading);
  const auto saved_input = config.model.input;
  bind_to_dataset(config, data);
  if (saved_input != config.model.input) {
    throw ConfigError(
        fmt::format("{}: the run was trained on {}x{}x{} images, the dataset now has "
                    "{}x{}x{}",
                    run_dir.string(), saved_input[0], saved_input[1], saved_input[2],
                    config.model.input[0], config.model.input[1], config.model.input[2]));
  }
  Trainer trainer(build_network(config), config.train, std::move(group));
  resume_trainer(trainer, run_dir);
  const FitStatus status = fit_run(trainer, run_dir, data, callbacks);
  return finish(run_dir, config, trainer, data, status, callbacks, std::nullopt);
}

std::string changed_options(const RunDir& run_dir, RunConfig planned) {
  const RunConfig saved = load_config_file(run_dir.config());
  planned.model.input = saved.model.input;
  planned.model.num_classes = saved.model.num_classes;
  planned.class_names = saved.class_names;
  if (planned.data.mean().empty()) planned.data.mean(saved.data.mean()).std(saved.data.std());
  planned.threads = saved.threads;
  planned.output_dir = saved.output_dir;
  planned.train.device(saved.train.device());
  std::istringstream was(to_toml(saved)), now(to_toml(planned));
  std::string table, before, after;
  for (;;) {
    const bool more_before = static_cast<bool>(std::getline(was, before));
    const bool more_after = static_cast<bool>(std::getline(now, after));
    if (!more_before && !more_after) return "";
    if (!more_before) before = "nothing";
    if (!more_after) after = "nothing";
    if (before != after) {
      return fmt::format("{}{} in the run, {} now", table.empty() ? "" : table + " ", before,
                         after);
    }
    if (!before.empty() && before.front() == '[') table = before;
  }
}

fs::path recorded_data_root(const RunDir& run_dir) {
  std::ifstream in(run_dir.data_root());
  std::string line;
  if (!in || !std::getline(in, line)) return {};
  return fs::path(line);
}

LoadedRun load_run(const RunDir& run_dir, const std::string& checkpoint,
                   const std::string& device) {
  fs::path path = run_dir.checkpoint(checkpoint);
  if (!run_dir.holds_run()) {
    throw CheckpointError(fmt::format("{}: not a run directory (no {})", run_dir.string(),
                                      run_dir.config().filename().string()));
  }
  LoadedRun run;
  run.config = load_config_file(run_dir.config());
  if (run.config.class_names.empty()) {
    throw ConfigError(fmt::format("{}: [model] classes is missing", run_dir.config().string()));
  }
  run.network = Network(run.config.model);
  if (checkpoint == "best" && !fs::exists(path)) path = run_dir.checkpoint(CheckpointKind::kLast);
  load_checkpoint(path, *run.network, nullptr);
  run.network->to(resolve_device(device, "--device"));
  run.network->eval();
  run.normalization = Normalization{run.config.data.mean(), run.config.data.std()};
  return run;
}

std::vector<Prediction> predict_files(LoadedRun& run, const std::vector<fs::path>& files,
                                      int64_t top_k, bool invert) {
  if (top_k <= 0) throw ConfigError(fmt::format("--top: expected a count > 0, found {}", top_k));
  const auto& input = run.config.model.input;
  std::vector<Prediction> predictions;
  c10::InferenceMode inference;
  const torch::Device device = run.network->parameters().front().device();
  PrecisionGuard guard(run.config.train.precision(), device);
  for (const auto& file : files) {
    auto image = read_image_file(file, input[0], input[1], input[2]);
    if (invert) image = 255 - image;
    const auto logits =
        run.network->forward(to_network_input(image.unsqueeze(0).to(device), run.normalization));
    const auto probabilities = torch::softmax(logits.to(torch::kFloat32), 1)[0].to(torch::kCPU);
    const int64_t k = std::min<int64_t>(top_k, probabilities.size(0));
    const auto [values, indices] = probabilities.topk(k);
    Prediction prediction{file, {}};
    for (int64_t i = 0; i < k; ++i) {
      prediction.top.emplace_back(indices[i].item<int64_t>(), values[i].item<double>());
    }
    predictions.push_back(std::move(prediction));
  }
  return predictions;
}

torch::Tensor grad_cam_picture(LoadedRun& run, const fs::path& file, int64_t target_class,
                               std::size_t layer, bool invert) {
  const auto& input = run.config.model.input;
  auto image = read_image_file(file, input[0], input[1], input[2]);
  if (invert) image = 255 - image;
  const auto heat = grad_cam(
      run.network, to_network_input(image.unsqueeze(0), run.normalization)[0], target_class, layer);
  const int64_t scale =
      (kGradCamPictureSize + std::max(input[1], input[2]) - 1) / std::max(input[1], input[2]);
  auto picture = read_image_file(file, input[0], input[1] * scale, input[2] * scale);
  if (invert) picture = 255 - picture;
  namespace F = torch::nn::functional;
  const auto large_heat =
      F::interpolate(heat.view({1, 1, input[1], input[2]}),
                     F::InterpolateFuncOptions()
                         .size(std::vector<int64_t>{picture.size(1), picture.size(2)})
                         .mode(torch::kBilinear)
                         .align_corners(false))[0][0];
  return heat_overlay(picture, large_heat);
}

}  // namespace cnnlab
