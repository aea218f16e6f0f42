// cnnlab's side of the training benchmark (bench/run drives it, alternating with the PyTorch
// peer in bench/torch_peer.py). Modes:
//   train_bench --config F --batch N --precision fp32|bf16 --seconds S   training throughput
//   train_bench --config F --describe                                    the model as JSON
//   train_bench --config F --parity OUT.pt                               weights, batch, losses
//   train_bench --matmul-peak                                            matrix-multiply GFLOP/s
//   train_bench --config F --target 0.992 [--stop-at-target]             time to test accuracy
// Each prints one JSON object on stdout.
#include <fmt/format.h>
#if __has_include(<torch/csrc/autograd/profiler_legacy.h>)
#include <torch/csrc/autograd/profiler_legacy.h>
#define CNNLAB_HAS_RECORD_PROFILE 1
#endif
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cnnlab/config/run_config.h"
#include "cnnlab/data/data_root.h"
#include "cnnlab/error.h"
#include "cnnlab/models/summary.h"
#include "cnnlab/run/run.h"
#include "cnnlab/training/device.h"
#include "cnnlab/training/evaluate.h"
#include "cnnlab/training/trainer.h"

namespace {

// $CNNLAB_DATA, or "" when it is not set.
std::string data_environment() {
  const char* value = std::getenv("CNNLAB_DATA");
  return value != nullptr ? value : "";
}

using namespace cnnlab;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

// The input shape of the datasets the benchmark synthesises (no files are read for throughput).
std::array<int64_t, 3> input_shape(const RunConfig& config) {
  const std::string& dataset = config.data.dataset();
  if (dataset == "mnist" || dataset == "fashion-mnist") return {1, 28, 28};
  if (dataset == "cifar10") return {3, 32, 32};
  throw ConfigError(
      fmt::format("data.dataset: the benchmark synthesises mnist or cifar10 images, "
                  "found '{}'",
                  dataset));
}

RunConfig bench_config(const std::string& path, const std::vector<std::string>& overrides) {
  RunConfig config = load_config_file(path, overrides);
  config.model.input = input_shape(config);
  config.model.num_classes = 10;
  return config;
}

// Random images and labels of the model's input shape, as uint8 like every cnnlab dataset.
Dataset synthetic_dataset(const ModelSpec& model, int64_t n) {
  torch::manual_seed(1234);
  Dataset data;
  data.images = torch::randint(0, 256, {n, model.input[0], model.input[1], model.input[2]},
                               torch::TensorOptions().dtype(torch::kUInt8));
  data.labels = torch::randint(0, model.num_classes, {n}, torch::kInt64);
  for (int64_t c = 0; c < model.num_classes; ++c) data.class_names.push_back(std::to_string(c));
  return data;
}

json describe(const RunConfig& config) {
  const auto shapes = infer_shapes(config.model);
  json layers = json::array();
  for (std::size_t i = 0; i < config.model.layers.size(); ++i) {
    const LayerSpec& l = config.model.layers[i];
    layers.push_back({{"name", l.name},
                      {"type", layer_type_name(l.type)},
                      {"kernel", l.kernel},
                      {"stride", l.stride},
                      {"pad", shapes[i].pad},
                      {"activation", activation_name(l.activation)},
                      {"l2", l.l2},
                      {"rate", l.rate},
                      {"use_bias", l.use_bias},
                      {"output", shapes[i].output}});
  }
  const auto& o = config.train.optimizer();
  return {{"input", config.model.input},
          {"layers", layers},
          {"optimizer",
           {{"kind", optimizer_name(o.kind())},
            {"lr", o.lr()},
            {"beta1", o.beta1()},
            {"beta2", o.beta2()},
            {"eps", o.eps()},
            {"weight_decay", o.weight_decay()},
            {"momentum", o.momentum()},
            {"nesterov", o.nesterov()}}},
          {"label_smoothing", config.train.label_smoothing()},
          {"forward_flops", forward_flops(config.model)}};
}

// Throughput of cnnlab's own training loop (Trainer::fit) on images already in memory: `warmup`
// steps, then as many as fit in `seconds`.
json throughput(RunConfig config, int64_t batch, int64_t warmup, double seconds,
                const std::string& profile, bool augment) {
  // 256 batches, cycled, as the peer does.
  Dataset train = synthetic_dataset(config.model, batch * 256);
  TrainerOptions options = config.train;
  options.epochs(1000).batch_size(batch).checkpoint_every_steps(0);
  if (!augment) options.augment(AugmentOptions{});
  options.schedule(ScheduleOptions{});  // a constant learning rate, as the peer uses
  torch::manual_seed(config.train.seed());
  Trainer trainer(Network(config.model), options);

  // On a GPU the steps' metrics arrive in groups (every sync_every_steps steps, after a wait
  // for the GPU): a group's time is when its last step finished, so time is measured between
  // groups, each counting the steps it brought.
  struct Group {
    Clock::time_point time;
    int64_t last_step;
  };
  std::vector<Group> groups;
  TrainerCallbacks callbacks;
  callbacks.on_step_end = [&](const StepEvent& event) {
    const auto now = Clock::now();
    if (!groups.empty() && seconds_between(groups.back().time, now) < 1e-3 &&
        event.global_step == groups.back().last_step + 1 && trainer.device().is_cuda()) {
      groups.back().last_step = event.global_step;
    } else {
      groups.push_back({now, event.global_step});
    }
  };
  const auto first_timed = [&]() -> std::size_t {
    for (std::size_t i = 0; i < groups.size(); ++i) {
      if (groups[i].last_step >= warmup) return i;
    }
    return groups.size();
  };
  callbacks.stop_requested = [&] {
    const std::size_t first = first_timed();
    return first + 1 < groups.size() &&
           seconds_between(groups[first].time, groups.back().time) >= seconds;
  };
  {
#ifdef CNNLAB_HAS_RECORD_PROFILE
    std::unique_ptr<torch::autograd::profiler::RecordProfile> recording;
    if (!profile.empty()) {
      recording = std::make_unique<torch::autograd::profiler::RecordProfile>(profile);
    }
#else
    if (!profile.empty()) throw ConfigError("--profile: this LibTorch has no legacy profiler");
#endif
    trainer.fit(train, Dataset{}, Normalization{}, callbacks);
  }

  const std::size_t first = first_timed();
  if (first + 1 >= groups.size()) throw ConfigError("--seconds: too short to time a step");
  std::vector<double> step_seconds;
  for (std::size_t i = first + 1; i < groups.size(); ++i) {
    const double steps = static_cast<double>(groups[i].last_step - groups[i - 1].last_step);
    step_seconds.push_back(seconds_between(groups[i - 1].time, groups[i].time) / steps);
  }
  const int64_t steps = groups.back().last_step - groups[first].last_step;
  const double elapsed = seconds_between(groups[first].time, groups.back().time);
  const double images_per_s = static_cast<double>(steps * batch) / elapsed;
  const double train_flops = 3.0 * static_cast<double>(forward_flops(config.model));
  return {
      {"tool", "cnnlab"},
      {"batch", batch},
      {"augment", options.augment().enabled()},
      {"prefetch", options.prefetch()},
      {"precision", precision_name(resolve_precision(config.train.precision(), trainer.device()))},
      {"device", device_description(trainer.device())},
      {"step_mode", trainer.step_mode()},
      {"threads", torch::get_num_threads()},
      {"cpu_kernels", cpu_kernels()},
      {"steps", steps},
      {"images_per_s", images_per_s},
      {"step_ms_median", 1000 * median(step_seconds)},
      {"train_gflop_per_image", train_flops / 1e9},
      {"achieved_gflops", images_per_s * train_flops / 1e9}};
}

double matmul_gflops(torch::ScalarType dtype, int64_t n) {
  torch::manual_seed(0);
  const auto a = torch::randn({n, n}).to(dtype);
  const auto b = torch::randn({n, n}).to(dtype);
  auto c = torch::mm(a, b);  // warm up
  std::vector<double> rates;
  for (int i = 0; i < 7; ++i) {
    const auto start = Clock::now();
    torch::mm_out(c, a, b);
    rates.push_back(2.0 * n * n * n / seconds_between(start, Clock::now()) / 1e9);
  }
  return *std::max_element(rates.begin(), rates.end());
}

json matmul_peak() {
  json result = {{"threads", torch::get_num_threads()}};
  for (int64_t n : {1024, 2048}) {
    result[fmt::format("fp32_{}", n)] = matmul_gflops(torch::kFloat32, n);
    result[fmt::format("bf16_{}", n)] = matmul_gflops(torch::kBFloat16, n);
  }
  result["fp32_gflops"] =
      std::max(result["fp32_1024"].get<double>(), result["fp32_2048"].get<double>());
  result["bf16_gflops"] =
      std::max(result["bf16_1024"].get<double>(), result["bf16_2048"].get<double>());
  return result;
}

// The reference values the peer's parity check must reproduce: weights, one batch, the loss in
// eval and train mode, then one optimizer step and the losses after it. Dropout is switched off
// (its masks are random); everything else is the config's model and optimizer.
json parity(RunConfig config, const std::string& out_path, int64_t batch) {
  for (auto& layer : config.model.layers) {
    if (layer.type == LayerType::kDropout) layer.rate = 0;
  }
  torch::manual_seed(config.train.seed());
  Network network(config.model);
  const Dataset data = synthetic_dataset(config.model, batch);
  const auto x = to_network_input(data.images, {});
  const auto& y = data.labels;
  auto optimizer = make_optimizer(config.train.optimizer(), network->parameters());
  namespace F = torch::nn::functional;
  const auto loss_options =
      F::CrossEntropyFuncOptions().label_smoothing(config.train.label_smoothing());
  const auto loss_of = [&](bool train) {
    network->train(train);
    return F::cross_entropy(network->forward(x), y, loss_options) + network->l2_penalty();
  };

  c10::Dict<std::string, torch::Tensor> tensors;
  for (const auto& item : network->named_parameters())
    tensors.insert(item.key(), item.value().detach().clone());
  for (const auto& item : network->named_buffers())
    tensors.insert(item.key(), item.value().clone());
  tensors.insert("input", x);
  tensors.insert("labels", y);
  json losses;
  {
    torch::NoGradGuard no_grad;
    losses["eval_before"] = loss_of(false).item<double>();
  }
  optimizer->zero_grad();
  auto loss = loss_of(true);
  losses["train_before"] = loss.item<double>();
  loss.backward();
  optimizer->step();
  {
    torch::NoGradGuard no_grad;
    losses["train_after"] = loss_of(true).item<double>();
    losses["eval_after"] = loss_of(false).item<double>();
  }
  const auto bytes = torch::pickle_save(c10::IValue(tensors));
  std::ofstream(out_path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  json result = describe(config);
  result["losses"] = losses;
  return result;
}

// Trains the config on its real dataset, evaluating the test set after every epoch (not timed),
// and reports the training wall time at which test accuracy first reached each target; with
// `stop_at_target`, training ends once every target is reached.
json time_to_accuracy(RunConfig config, const std::string& data_dir,
                      const std::vector<double>& targets, bool stop_at_target) {
  const DataRoot root = resolve_data_root(data_dir, data_environment());
  LoadedData data = load_data(config.data, root);
  config.model.input = {data.train.channels(), data.train.height(), data.train.width()};
  config.model.num_classes = data.train.num_classes();
  torch::manual_seed(config.train.seed());
  Trainer trainer(Network(config.model), config.train);
  double train_seconds = 0, accuracy = 0;
  json epochs = json::array(), reached = json::array();
  for (double target : targets) {
    reached.push_back(
        {{"target", target}, {"reached", false}, {"seconds", nullptr}, {"epoch", nullptr}});
  }
  bool all_reached = false;
  TrainerCallbacks callbacks;
  callbacks.stop_requested = [&] { return stop_at_target && all_reached; };
  callbacks.on_epoch_end = [&](const EpochRecord& record) {
    train_seconds += record.seconds;
    accuracy = evaluate(trainer.network(), data.test, data.normalization,
                        config.train.eval_batch_size(), config.train.precision())
                   .accuracy;
    epochs.push_back(
        {{"epoch", record.epoch}, {"train_seconds", train_seconds}, {"test_accuracy", accuracy}});
    fmt::print(stderr, "epoch {}: {:.1f} s, test accuracy {:.4f}\n", record.epoch, train_seconds,
               accuracy);
    for (auto& target : reached) {
      if (!target["reached"].get<bool>() && accuracy >= target["target"].get<double>()) {
        target["reached"] = true;
        target["seconds"] = train_seconds;
        target["epoch"] = record.epoch;
      }
    }
    all_reached = std::all_of(reached.begin(), reached.end(),
                              [](const json& target) { return target["reached"].get<bool>(); });
  };
  trainer.fit(data.train, data.validation, data.normalization, callbacks);
  return {
      {"targets", reached},
      {"train_seconds", train_seconds},
      {"final_test_accuracy", accuracy},
      {"precision", precision_name(resolve_precision(config.train.precision(), trainer.device()))},
      {"device", device_description(trainer.device())},
      {"step_mode", trainer.step_mode()},
      {"threads", torch::get_num_threads()},
      {"epochs", epochs}};
}

}  // namespace

int main(int argc, char** argv) {
  cnnlab::prefer_avx512_kernels();
  CLI::App app{"cnnlab training benchmark (run through bench/run)"};
  std::string config_path, parity_out, precision, data_dir, profile, device;
  std::vector<std::string> overrides;
  int64_t batch = 64, warmup = 5;
  int threads = 0;
  double seconds = 3;
  std::vector<double> targets;
  bool show_model = false, peak = false, augment = false, stop_at_target = false;
  app.add_option("-c,--config", config_path, "Config file (TOML)");
  app.add_option("-s,--set", overrides, "Override a config option (repeatable)");
  app.add_option("--batch", batch, "Batch size");
  app.add_option("--precision", precision, "auto, fp32 or bf16 (default: the config's)");
  app.add_option("--device", device, "cpu, cuda, cuda:N or auto (default: the config's)");
  app.add_option("-j,--threads", threads, "LibTorch threads (0: one per core)");
  app.add_option("--warmup", warmup, "Untimed steps first");
  app.add_option("--seconds", seconds, "Timed training time");
  app.add_option("--profile", profile, "Write a Chrome trace of the timed steps to this file");
  app.add_flag("--augment", augment, "Keep the config's augmentation (off by default)");
  app.add_flag("--describe", show_model, "Print the model and optimizer as JSON");
  app.add_option("--parity", parity_out, "Write weights, a batch and losses for the peer check");
  app.add_flag("--matmul-peak", peak, "Measure matrix-multiply GFLOP/s");
  app.add_option("--target", targets,
                 "Train on the real dataset, timing when test accuracy reaches this (repeatable)");
  app.add_flag("--stop-at-target", stop_at_target,
               "With --target: stop training once every target is reached");
  app.add_option("--data-dir", data_dir, "Folder holding the datasets");
  CLI11_PARSE(app, argc, argv);
  try {
    apply_thread_setting(threads);
    if (peak) {
      fmt::print("{}\n", matmul_peak().dump());
      return 0;
    }
    if (config_path.empty()) throw ConfigError("--config: a config file is needed");
    if (!precision.empty()) overrides.push_back("train.precision=" + precision);
    if (!device.empty()) overrides.push_back("train.device=" + device);
    if (!targets.empty()) {
      const RunConfig config = load_config_file(config_path, overrides);
      fmt::print("{}\n", time_to_accuracy(config, data_dir, targets, stop_at_target).dump());
      return 0;
    }
    RunConfig config = bench_config(config_path, overrides);
    if (show_model) {
      fmt::print("{}\n", describe(config).dump());
    } else if (!parity_out.empty()) {
      fmt::print("{}\n", parity(config, parity_out, batch).dump());
    } else {
      json result = throughput(config, batch, warmup, seconds, profile, augment);
      result["model"] = config.name;
      fmt::print("{}\n", result.dump());
    }
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "train_bench: error: {}\n", e.what());
    return 1;
  }
}
