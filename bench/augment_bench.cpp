// Times the augmentation of one training batch against the training step it feeds, for the
// config given (by default the study's CIFAR-10 model with its ImageDataGenerator settings).
//
//   build/bench/augment_bench [--config configs/cifar10.toml] [--batch 64] [--repeats 40]
//
// Prints the median time of each part and their ratio, and the same as one JSON line.
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cnnlab/config/run_config.h"
#include "cnnlab/data/augment.h"
#include "cnnlab/error.h"
#include "cnnlab/run/run.h"
#include "cnnlab/training/optimizer.h"

namespace {

// $CNNLAB_DATA, or "" when it is not set.
std::string data_environment() {
  const char* value = std::getenv("CNNLAB_DATA");
  return value != nullptr ? value : "";
}

using Clock = std::chrono::steady_clock;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

template <typename F>
double time_ms(F&& work) {
  const auto start = Clock::now();
  work();
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Augmentation cost against the training step"};
  std::string config_path = std::string(CNNLAB_SOURCE_DIR) + "/configs/cifar10.toml";
  int64_t batch = 64, repeats = 40, threads = 0;
  std::string data_dir;
  app.add_option("--config", config_path, "Config whose model and [augment] are timed");
  app.add_option("--batch", batch, "Images per batch");
  app.add_option("--repeats", repeats, "Timed batches (after 5 warm-up ones)");
  app.add_option("--threads", threads, "LibTorch threads (0: one per core)");
  app.add_option("--data-dir", data_dir, "Folder holding the datasets");
  CLI11_PARSE(app, argc, argv);
  try {
    using namespace cnnlab;
    // Shown relative to the current directory, as a user would type it.
    config_path = std::filesystem::proximate(config_path).string();
    RunConfig config = load_config_file(config_path);
    const int64_t used_threads = apply_thread_setting(threads);
    const int64_t warmup = 5;
    config.data.train_limit(batch * (repeats + warmup)).test_limit(1).validation_split(0);
    const LoadedData data = load_data(config.data, resolve_data_root(data_dir, data_environment()));
    config.model.input = {data.train.channels(), data.train.height(), data.train.width()};
    config.model.num_classes = data.train.num_classes();
    Network network(config.model);
    network->train();
    auto optimizer = make_optimizer(config.train.optimizer(), network->parameters());
    const AugmentOptions& augment = config.train.augment();

    std::vector<double> augment_ms, step_ms;
    for (int64_t r = 0; r < repeats + warmup; ++r) {
      const auto images = data.train.images.slice(0, r * batch, (r + 1) * batch);
      const auto labels = data.train.labels.slice(0, r * batch, (r + 1) * batch);
      torch::Tensor x;
      const double a = time_ms([&] {
        x = to_unit_float(images);
        x = augment_batch(x, augment, at::detail::createCPUGenerator(static_cast<uint64_t>(r)));
        x = normalize_(x, data.normalization);
      });
      const double s = time_ms([&] {
        optimizer->zero_grad();
        auto loss = torch::nn::functional::cross_entropy(network->forward(x), labels) +
                    network->l2_penalty();
        loss.backward();
        optimizer->step();
      });
      if (r >= warmup) {
        augment_ms.push_back(a);
        step_ms.push_back(s);
      }
    }
    const double aug = median(augment_ms), step = median(step_ms);
    fmt::print("config {} ({} threads, batch {} of {}x{}x{} images)\n", config_path, used_threads,
               batch, data.train.channels(), data.train.height(), data.train.width());
    fmt::print("augmentation  median {:8.2f} ms per batch\n", aug);
    fmt::print("training step median {:8.2f} ms per batch\n", step);
    fmt::print("augmentation is {:.1f}% of a step\n", 100.0 * aug / step);
    nlohmann::json result = {{"config", config_path},
                             {"threads", used_threads},
                             {"batch", batch},
                             {"repeats", repeats},
                             {"augment_ms_median", aug},
                             {"step_ms_median", step},
                             {"augment_to_step_ratio", aug / step}};
    fmt::print("{}\n", result.dump());
  } catch (const cnnlab::Error& e) {
    fmt::print(stderr, "augment_bench: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
