#include "cnnlab/training/checkpoint.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cnnlab/error.h"
#include "cnnlab/io/atomic_file.h"

namespace cnnlab {
namespace fs = std::filesystem;

namespace {
constexpr int kFormatVersion = 1;
}  // namespace

void save_checkpoint(const fs::path& path, NetworkImpl& network, torch::optim::Optimizer* optimizer,
                     const TrainingState& state) {
  nlohmann::json meta = {
      {"format", "cnnlab-checkpoint"},
      {"version", kFormatVersion},
      {"architecture", architecture_fingerprint(network.spec())},
      {"epoch", state.epoch},
      {"step_in_epoch", state.step_in_epoch},
      {"global_step", state.global_step},
      {"best_val_accuracy", state.best_val_accuracy},
      {"epoch_loss_sum", state.epoch_loss_sum},
      {"epoch_correct", state.epoch_correct},
      {"epoch_seen", state.epoch_seen},
      {"epoch_seconds", state.epoch_seconds},
  };
  torch::serialize::OutputArchive archive;
  archive.write("meta", c10::IValue(meta.dump()));
  torch::serialize::OutputArchive model_archive;
  network.save(model_archive);
  archive.write("model", model_archive);
  if (optimizer != nullptr) {
    torch::serialize::OutputArchive optimizer_archive;
    optimizer->save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
  }
  if (state.rng_state.defined()) archive.write("rng_state", state.rng_state);
  write_atomically(path, [&](const fs::path& tmp) { archive.save_to(tmp.string()); });
}

TrainingState load_checkpoint(const fs::path& path, NetworkImpl& network,
                              torch::optim::Optimizer* optimizer) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw CheckpointError(path.string() + ": no checkpoint there");
  }
  torch::serialize::InputArchive archive;
  nlohmann::json meta;
  try {
    archive.load_from(path.string());
    c10::IValue meta_value;
    archive.read("meta", meta_value);
    meta = nlohmann::json::parse(meta_value.toStringRef());
  } catch (const std::exception& e) {
    throw CheckpointError(fmt::format("{}: not a readable cnnlab checkpoint: {}", path.string(),
                                      torch_error_message(e)));
  }
  TrainingState state;
  try {
    const std::string expected = architecture_fingerprint(network.spec());
    const std::string found = meta.at("architecture").get<std::string>();
    if (found != expected) {
      throw CheckpointError(fmt::format(
          "{}: checkpoint is from another model: expected architecture\n  {}\nfound\n  {}",
          path.string(), expected, found));
    }
    state.epoch = meta.at("epoch").get<int64_t>();
    state.step_in_epoch = meta.at("step_in_epoch").get<int64_t>();
    state.global_step = meta.at("global_step").get<int64_t>();
    state.best_val_accuracy = meta.at("best_val_accuracy").get<double>();
    state.epoch_loss_sum = meta.at("epoch_loss_sum").get<double>();
    state.epoch_correct = meta.at("epoch_correct").get<double>();
    state.epoch_seen = meta.at("epoch_seen").get<int64_t>();
    state.epoch_seconds = meta.at("epoch_seconds").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError(
        fmt::format("{}: checkpoint metadata is incomplete: {}", path.string(), e.what()));
  }
  try {
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    network.load(model_archive);
    if (optimizer != nullptr) {
      torch::serialize::InputArchive optimizer_archive;
      if (archive.try_read("optimizer", optimizer_archive)) optimizer->load(optimizer_archive);
    }
    torch::Tensor rng;
    if (archive.try_read("rng_state", rng)) state.rng_state = rng;
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::exception& e) {
    throw CheckpointError(fmt::format("{}: cannot restore the checkpoint: {}", path.string(),
                                      torch_error_message(e)));
  }
  return state;
}

}  // namespace cnnlab
