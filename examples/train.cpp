// Trains a model with libcnnlab alone: train configs/mnist.toml data runs/mine train.epochs=1
#include <cstdio>

#include "cnnlab/config/run_config.h"
#include "cnnlab/error.h"
#include "cnnlab/run/run.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s CONFIG DATA_DIR RUN_DIR [OPTION=VALUE ...]\n", argv[0]);
    return 2;
  }
  try {
    const std::vector<std::string> overrides(argv + 4, argv + argc);
    const cnnlab::RunConfig config = cnnlab::load_config_file(argv[1], overrides);
    cnnlab::TrainerCallbacks callbacks;
    callbacks.on_epoch_end = [](const cnnlab::EpochRecord& epoch) {
      std::printf("epoch %lld/%lld: loss %.4f, accuracy %.4f, val_accuracy %.4f\n",
                  static_cast<long long>(epoch.epoch), static_cast<long long>(epoch.epochs),
                  epoch.loss, epoch.accuracy, epoch.val_accuracy);
    };
    const cnnlab::DataRoot data{argv[2], "the command line"};
    const cnnlab::RunResult result = cnnlab::train_run(config, data, argv[3], callbacks);
    std::printf("test accuracy %.4f; the run is in %s\n", result.test.accuracy, argv[3]);
  } catch (const cnnlab::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
