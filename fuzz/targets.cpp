#include "targets.h"

#include <unistd.h>

#include <fstream>
#include <stdexcept>

#include "cnnlab/config/run_config.h"
#include "cnnlab/data/cifar10.h"
#include "cnnlab/data/idx.h"
#include "cnnlab/data/image_file.h"
#include "cnnlab/error.h"
#include "cnnlab/models/layer_spec.h"
#include "cnnlab/models/network.h"
#include "cnnlab/models/summary.h"
#include "cnnlab/run/checkpoint.h"

namespace cnnlab::fuzz {
namespace fs = std::filesystem;

namespace {

// The readers of IDX, CIFAR-10 and checkpoint files take a path: each input goes through a
// scratch file of this process.
fs::path scratch_file(const std::uint8_t* data, std::size_t size) {
  static const fs::path path =
      fs::temp_directory_path() / ("cnnlab-fuzz-" + std::to_string(::getpid()) + ".bin");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
  return path;
}

void fuzz_idx(const std::uint8_t* data, std::size_t size) {
  const IdxArray array = read_idx(scratch_file(data, size));
  if (array.data.numel() > 0) (void)array.data.max().item<int64_t>();
}

void fuzz_cifar10(const std::uint8_t* data, std::size_t size) {
  const fs::path file = scratch_file(data, size);
  (void)read_class_names(file);
  const Dataset batch = read_cifar10_batch(file, cifar10_default_class_names());
  (void)batch.labels.max().item<int64_t>();
}

// The first byte chooses the decoded channels and size, the rest is the file.
void fuzz_image(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const int64_t channels = (data[0] & 1) != 0 ? 3 : 1;
  const int64_t side = 4 + (data[0] >> 1) % 29;
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto image = decode_image(bytes, "fuzz-input", channels, side, side);
  if (image.sizes() != torch::IntArrayRef{channels, side, side}) {
    throw std::logic_error("decode_image returned another shape than asked for");
  }
}

void fuzz_config(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  RunConfig config = parse_config(text, "fuzz.toml");
  // What parse_config accepts, to_toml writes back and parse_config reads again.
  const std::string written = to_toml(config);
  const RunConfig again = parse_config(written, "fuzz-written.toml");
  if (to_toml(again) != written) {
    throw std::logic_error("to_toml/parse_config do not round-trip:\n" + written);
  }
  // A model the config describes is checked for shape on its dataset's input (CIFAR-10's, or
  // MNIST's for the others).
  config.model.input = config.data.dataset() == "cifar10" ? std::array<int64_t, 3>{3, 32, 32}
                                                          : std::array<int64_t, 3>{1, 28, 28};
  config.model.num_classes = 10;
  (void)infer_shapes(config.model);
  (void)forward_flops(config.model);
}

}  // namespace

ModelSpec checkpoint_model() {
  ModelSpec spec;
  spec.input = {1, 8, 8};
  spec.num_classes = 3;
  LayerSpec conv;
  conv.type = LayerType::kConv2d;
  conv.name = "Conv1";
  conv.filters = 2;
  conv.activation = Activation::kRelu;
  LayerSpec flatten;
  flatten.type = LayerType::kFlatten;
  flatten.name = "Flatten";
  LayerSpec output;
  output.type = LayerType::kDense;
  output.name = "Output";
  output.activation = Activation::kSoftmax;
  spec.layers = {conv, flatten, output};
  return spec;
}

namespace {

void fuzz_checkpoint(const std::uint8_t* data, std::size_t size) {
  Network network(checkpoint_model());
  torch::optim::Adam optimizer(network->parameters());
  const TrainingState state = load_checkpoint(scratch_file(data, size), *network, &optimizer);
  (void)state.epoch;
}

}  // namespace

const std::vector<NamedTarget>& targets() {
  static const std::vector<NamedTarget> all = {
      {"idx", fuzz_idx},       {"cifar10", fuzz_cifar10},       {"image", fuzz_image},
      {"config", fuzz_config}, {"checkpoint", fuzz_checkpoint},
  };
  return all;
}

Target find_target(const std::string& name) {
  std::string known;
  for (const auto& target : targets()) {
    if (target.name == name) return target.run;
    known += (known.empty() ? "" : ", ") + target.name;
  }
  throw std::invalid_argument("unknown fuzz target '" + name + "': expected one of " + known);
}

}  // namespace cnnlab::fuzz
