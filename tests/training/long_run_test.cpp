// A long training keeps its resident memory flat: nothing accumulates per step or per epoch
// (history, checkpoints, weight histograms and evaluation included).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "cnnlab/config/run_config.h"
#include "cnnlab/run/run.h"
#include "cnnlab/training/trainer.h"
#include "support/run_trainer.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

using testing::TempDir;

// Resident set size of this process, in MiB.
double resident_mib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

TEST(LongRunTest, ResidentMemoryStaysFlatOverManyEpochs) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's quarantine holds freed memory on purpose";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  GTEST_SKIP() << "AddressSanitizer's quarantine holds freed memory on purpose";
#endif
#endif
  TempDir dir;
  keep_freed_memory();  // as cnnlab train runs
  ModelSpec spec = parse_config(R"(
[[model.layers]]
type = "conv2d"
filters = 8
activation = "relu"
[[model.layers]]
type = "maxpool"
[[model.layers]]
type = "batchnorm"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
units = 32
activation = "relu"
[[model.layers]]
type = "dropout"
rate = 0.2
[[model.layers]]
type = "dense"
)",
                                "long.toml")
                       .model;
  spec.input = {1, 12, 12};
  spec.num_classes = 4;
  torch::manual_seed(0);
  const auto labels = torch::randint(0, 4, {256}, torch::kInt64);
  auto images = torch::randint(0, 40, {256, 1, 12, 12}, torch::kInt64);
  for (int64_t i = 0; i < 256; ++i) images[i][0][labels[i].item<int64_t>() * 3].add_(200);
  const Dataset train{images.to(torch::kUInt8), labels, {"a", "b", "c", "d"}};
  const Dataset validation{train.images.slice(0, 0, 64), train.labels.slice(0, 0, 64),
                           train.class_names};
  const int64_t epochs = 60;
  testing::RunTrainer trainer(
      Network(spec), TrainerOptions().epochs(epochs).batch_size(16).checkpoint_every_steps(7),
      dir.path());
  std::vector<double> rss;
  TrainerCallbacks callbacks;
  callbacks.on_epoch_end = [&](const EpochRecord&) { rss.push_back(resident_mib()); };
  trainer.fit(train, validation, {}, callbacks);
  ASSERT_EQ(rss.size(), static_cast<std::size_t>(epochs));
  // After a warm-up of 10 epochs (allocator pools, LibTorch's caches), 50 more epochs, 800
  // steps, 50 checkpoints and histograms later, resident memory has not grown.
  const double warm = rss[9], last = rss.back();
  std::printf("resident memory: %.1f MiB after epoch 10, %.1f MiB after epoch %lld\n", warm, last,
              static_cast<long long>(epochs));
  EXPECT_LT(last - warm, 4.0) << "grew from " << warm << " to " << last << " MiB";
}

}  // namespace
}  // namespace cnnlab
