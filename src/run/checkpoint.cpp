#include "cnnlab/run/checkpoint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "cnnlab/error.h"
#include "cnnlab/io/atomic_file.h"
#include "cnnlab/training/lookahead.h"
#include "cnnlab/training/optimizer.h"

// A checkpoint is one file in the safetensors layout: an 8-byte little-endian header length, a
// JSON header naming every tensor (dtype, shape, byte range) with cnnlab's metadata under
// "__metadata__", then the tensors' bytes. Nothing in it is code: reading it parses JSON and
// copies bytes into tensors of the model's own shapes. (LibTorch's archive format, used before,
// holds TorchScript source that the loader compiles; a hostile file could crash it.)

namespace cnnlab {
namespace fs = std::filesystem;

namespace {

constexpr int kFormatVersion = 2;
constexpr std::uint64_t kMaxHeaderBytes = std::uint64_t{16} << 20;
constexpr std::size_t kMaxDims = 8;

struct DTypeName {
  const char* name;
  torch::ScalarType type;
};
constexpr DTypeName kDTypes[] = {
    {"F32", torch::kFloat32}, {"F64", torch::kFloat64}, {"BF16", torch::kBFloat16},
    {"F16", torch::kFloat16}, {"I64", torch::kInt64},   {"I32", torch::kInt32},
    {"U8", torch::kUInt8},
};

const char* dtype_name(torch::ScalarType type) {
  for (const auto& d : kDTypes) {
    if (d.type == type) return d.name;
  }
  throw CheckpointError(fmt::format("cannot save a tensor of type {}", c10::toString(type)));
}

std::optional<torch::ScalarType> parse_dtype(const std::string& name) {
  for (const auto& d : kDTypes) {
    if (name == d.name) return d.type;
  }
  return std::nullopt;
}

OptimizerStateKey param_key(const torch::Tensor& p) { return optimizer_state_key(p); }

// Named tensors in the order they are written.
using TensorList = std::vector<std::pair<std::string, torch::Tensor>>;

std::string optimizer_kind(torch::optim::Optimizer* optimizer) {
  if (optimizer == nullptr) return "none";
  if (dynamic_cast<torch::optim::Adam*>(optimizer) != nullptr) return "adam";
  if (dynamic_cast<torch::optim::AdamW*>(optimizer) != nullptr) return "adamw";
  if (dynamic_cast<torch::optim::SGD*>(optimizer) != nullptr) return "sgd";
  throw CheckpointError("cannot save the state of this optimizer");
}

template <typename State>
void add_adam_state(const std::string& prefix, const State& state, TensorList& tensors,
                    nlohmann::json& steps, const std::string& name) {
  steps[name] = state.step();
  tensors.emplace_back(prefix + "exp_avg", state.exp_avg());
  tensors.emplace_back(prefix + "exp_avg_sq", state.exp_avg_sq());
  if (state.max_exp_avg_sq().defined()) {
    tensors.emplace_back(prefix + "max_exp_avg_sq", state.max_exp_avg_sq());
  }
}

// The optimizer's per-parameter state as named tensors ("optimizer/<parameter>/<buffer>"), and
// the step counts of Adam(W) by parameter name.
void add_optimizer_state(NetworkImpl& network, torch::optim::Optimizer& optimizer,
                         TensorList& tensors, nlohmann::json& steps) {
  auto& states = optimizer.state();
  for (const auto& item : network.named_parameters()) {
    const auto found = states.find(param_key(item.value()));
    if (found == states.end()) continue;
    const std::string prefix = "optimizer/" + item.key() + "/";
    const auto* state = found->second.get();
    if (const auto* adam = dynamic_cast<const torch::optim::AdamParamState*>(state)) {
      add_adam_state(prefix, *adam, tensors, steps, item.key());
    } else if (const auto* adamw = dynamic_cast<const torch::optim::AdamWParamState*>(state)) {
      add_adam_state(prefix, *adamw, tensors, steps, item.key());
    } else if (const auto* sgd = dynamic_cast<const torch::optim::SGDParamState*>(state)) {
      if (sgd->momentum_buffer().defined()) {
        tensors.emplace_back(prefix + "momentum_buffer", sgd->momentum_buffer());
      }
    }
  }
}

void write_checkpoint_file(const fs::path& path, const fs::path& tmp, const nlohmann::json& meta,
                           const TensorList& tensors) {
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "cnnlab-checkpoint"},
                            {"version", std::to_string(kFormatVersion)},
                            {"meta", meta.dump()}};
  std::vector<torch::Tensor> data;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const auto t = tensor.detach().to(torch::kCPU).contiguous();
    const auto bytes = static_cast<std::uint64_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", dtype_name(t.scalar_type())},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(t);
  }
  const std::string text = header.dump();
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) {
    throw IoError(
        fmt::format("{}: cannot open for writing: {}", path.string(), std::strerror(errno)));
  }
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(text.size() >> (8 * i));
  out.write(reinterpret_cast<const char*>(length), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto& t : data) {
    out.write(static_cast<const char*>(t.data_ptr()),
              static_cast<std::streamsize>(t.numel() * t.element_size()));
  }
  out.flush();
  if (!out) {
    throw IoError(
        fmt::format("{}: write failed (disk full?): {}", path.string(), std::strerror(errno)));
  }
}

// One tensor of a checkpoint file: where its bytes are and what they hold.
struct Entry {
  torch::ScalarType dtype;
  std::vector<int64_t> shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

// Reads and checks a checkpoint file's header; tensors are read on demand by read().
class CheckpointFile {
 public:
  explicit CheckpointFile(const fs::path& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) throw CheckpointError(path.string() + ": cannot open: " + std::strerror(errno));
    std::error_code ec;
    const std::uint64_t size = fs::file_size(path, ec);
    if (ec) throw CheckpointError(path.string() + ": cannot read: " + ec.message());
    unsigned char length[8] = {};
    if (size < 8 || !in_.read(reinterpret_cast<char*>(length), 8)) {
      fail(fmt::format("{} bytes, too short for a checkpoint", size));
    }
    if (std::memcmp(length, "PK\x03\x04", 4) == 0) {
      fail(
          "written in LibTorch's archive format by an earlier cnnlab; this version reads only "
          "its own format, which holds no code");
    }
    std::uint64_t header_bytes = 0;
    for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | length[i];
    if (header_bytes < 2 || header_bytes > kMaxHeaderBytes || header_bytes > size - 8) {
      fail(fmt::format("the header claims {} bytes of a {}-byte file", header_bytes, size));
    }
    std::string text(header_bytes, '\0');
    if (!in_.read(text.data(), static_cast<std::streamsize>(header_bytes)))
      fail("truncated header");
    data_start_ = 8 + header_bytes;
    data_bytes_ = size - data_start_;
    const auto header = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!header.is_object()) fail("the header is not a JSON object");
    parse_metadata(header);
    for (const auto& [name, value] : header.items()) {
      if (name != "__metadata__") entries_.emplace(name, parse_entry(name, value));
    }
  }

  const nlohmann::json& meta() const { return meta_; }
  bool has(const std::string& name) const { return entries_.count(name) != 0; }

  std::vector<std::string> names_with_prefix(const std::string& prefix) const {
    std::vector<std::string> names;
    for (const auto& [name, entry] : entries_) {
      if (name.compare(0, prefix.size(), prefix) == 0) names.push_back(name);
    }
    return names;
  }

  /// The tensor `name`, which must have `dtype` and `shape` (the model's own).
  torch::Tensor read(const std::string& name, torch::ScalarType dtype, torch::IntArrayRef shape) {
    const auto found = entries_.find(name);
    if (found == entries_.end()) fail(fmt::format("tensor '{}' is missing", name));
    const Entry& entry = found->second;
    if (entry.dtype != dtype || torch::IntArrayRef(entry.shape) != shape) {
      fail(fmt::format("tensor '{}': expected {} [{}], found {} [{}]", name, c10::toString(dtype),
                       fmt::join(shape, ", "), c10::toString(entry.dtype),
                       fmt::join(entry.shape, ", ")));
    }
    auto tensor = torch::empty(shape, torch::TensorOptions().dtype(dtype));
    const auto bytes = static_cast<std::streamsize>(entry.end - entry.begin);
    in_.seekg(static_cast<std::streamoff>(data_start_ + entry.begin));
    if (bytes > 0 && !in_.read(static_cast<char*>(tensor.data_ptr()), bytes)) {
      fail(fmt::format("tensor '{}': cannot read its bytes", name));
    }
    return tensor;
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw CheckpointError(
        fmt::format("{}: not a readable cnnlab checkpoint: {}", path_.string(), why));
  }

 private:
  void parse_metadata(const nlohmann::json& header) {
    const auto found = header.find("__metadata__");
    if (found == header.end() || !found->is_object()) fail("no \"__metadata__\" in the header");
    const auto& m = *found;
    const auto text_of = [&](const char* key) {
      const auto it = m.find(key);
      return it != m.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    if (text_of("format") != "cnnlab-checkpoint") fail("the header's format is not cnnlab's");
    if (text_of("version") != std::to_string(kFormatVersion)) {
      fail(fmt::format("format version '{}', expected {}", text_of("version"), kFormatVersion));
    }
    meta_ = nlohmann::json::parse(text_of("meta"), nullptr, /*allow_exceptions=*/false);
    if (!meta_.is_object()) fail("its metadata is not a JSON object");
  }

  Entry parse_entry(const std::string& name, const nlohmann::json& value) const {
    Entry entry;
    const auto bad = [&](const std::string& why) {
      fail(fmt::format("tensor '{}': {}", name, why));
    };
    if (!value.is_object()) bad("expected an object with dtype, shape and data_offsets");
    const auto dtype = value.find("dtype");
    const auto shape = value.find("shape");
    const auto offsets = value.find("data_offsets");
    if (dtype == value.end() || !dtype->is_string() || !parse_dtype(dtype->get<std::string>())) {
      bad("unknown dtype");
    }
    entry.dtype = *parse_dtype(dtype->get<std::string>());
    if (shape == value.end() || !shape->is_array() || shape->size() > kMaxDims) {
      bad(fmt::format("expected a shape of at most {} sizes", kMaxDims));
    }
    std::uint64_t numel = 1;
    for (const auto& size : *shape) {
      if (!size.is_number_unsigned()) bad("a size is not a count");
      const auto n = size.get<std::uint64_t>();
      if (n != 0 && numel > data_bytes_ / n) bad("its shape holds more than the file does");
      numel *= n;
      entry.shape.push_back(static_cast<int64_t>(n));
    }
    if (offsets == value.end() || !offsets->is_array() || offsets->size() != 2 ||
        !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
      bad("expected data_offsets [begin, end]");
    }
    entry.begin = (*offsets)[0].get<std::uint64_t>();
    entry.end = (*offsets)[1].get<std::uint64_t>();
    const auto item = static_cast<std::uint64_t>(c10::elementSize(entry.dtype));
    if (entry.begin > entry.end || entry.end > data_bytes_ ||
        entry.end - entry.begin != numel * item) {
      bad(fmt::format("data_offsets [{}, {}] do not hold {} values in the file's {} data bytes",
                      entry.begin, entry.end, numel, data_bytes_));
    }
    return entry;
  }

  fs::path path_;
  std::ifstream in_;
  std::uint64_t data_start_ = 0;
  std::uint64_t data_bytes_ = 0;
  nlohmann::json meta_;
  std::map<std::string, Entry> entries_;
};

template <typename State>
std::unique_ptr<torch::optim::OptimizerParamState> read_adam_state(CheckpointFile& file,
                                                                   const std::string& prefix,
                                                                   const torch::Tensor& p,
                                                                   int64_t step) {
  auto state = std::make_unique<State>();
  state->step(step);
  // The state lives where its parameter does (a run saved on a GPU resumes on the CPU and back).
  state->exp_avg(file.read(prefix + "exp_avg", p.scalar_type(), p.sizes()).to(p.device()));
  state->exp_avg_sq(file.read(prefix + "exp_avg_sq", p.scalar_type(), p.sizes()).to(p.device()));
  if (file.has(prefix + "max_exp_avg_sq")) {
    state->max_exp_avg_sq(
        file.read(prefix + "max_exp_avg_sq", p.scalar_type(), p.sizes()).to(p.device()));
  }
  return state;
}

// Reads every saved optimizer state before any is installed: a bad file changes nothing.
void restore_optimizer(CheckpointFile& file, NetworkImpl& network,
                       torch::optim::Optimizer& optimizer) {
  const std::string saved = file.meta().value("optimizer", std::string("none"));
  if (saved == "none") return;
  const std::string kind = optimizer_kind(&optimizer);
  if (saved != kind) {
    file.fail(fmt::format("it holds optimizer state of {}, the run uses {}", saved, kind));
  }
  const auto steps = file.meta().value("optimizer_steps", nlohmann::json::object());
  std::vector<std::pair<OptimizerStateKey, std::unique_ptr<torch::optim::OptimizerParamState>>>
      restored;
  for (const auto& item : network.named_parameters()) {
    const std::string prefix = "optimizer/" + item.key() + "/";
    if (file.names_with_prefix(prefix).empty()) continue;
    const auto& p = item.value();
    if (kind == "sgd") {
      auto state = std::make_unique<torch::optim::SGDParamState>();
      state->momentum_buffer(
          file.read(prefix + "momentum_buffer", p.scalar_type(), p.sizes()).to(p.device()));
      restored.emplace_back(param_key(p), std::move(state));
      continue;
    }
    const auto step = steps.find(item.key());
    if (step == steps.end() || !step->is_number_unsigned()) {
      file.fail(fmt::format("no step count for the optimizer state of '{}'", item.key()));
    }
    const auto n = step->get<int64_t>();
    restored.emplace_back(param_key(p),
                          kind == "adam"
                              ? read_adam_state<torch::optim::AdamParamState>(file, prefix, p, n)
                              : read_adam_state<torch::optim::AdamWParamState>(file, prefix, p, n));
  }
  auto& states = optimizer.state();
  states.clear();
  for (auto& [key, state] : restored) states[key] = std::move(state);
}

// The names of averaged_weights(network), in its order.
std::vector<std::string> averaged_weight_names(NetworkImpl& network) {
  std::vector<std::string> names;
  for (const auto& item : network.named_parameters()) names.push_back(item.key());
  for (const auto& item : network.named_buffers()) {
    if (item.value().is_floating_point()) names.push_back(item.key());
  }
  return names;
}

}  // namespace

void save_checkpoint(const fs::path& path, NetworkImpl& network, torch::optim::Optimizer* optimizer,
                     const TrainingState& state) {
  nlohmann::json meta = {
      {"architecture", architecture_fingerprint(network.spec())},
      {"epoch", state.epoch},
      {"step_in_epoch", state.step_in_epoch},
      {"global_step", state.global_step},
      {"best_val_accuracy", state.best_val_accuracy},
      {"epoch_loss_sum", state.epoch_loss_sum},
      {"epoch_correct", state.epoch_correct},
      {"epoch_seen", state.epoch_seen},
      {"epoch_seconds", state.epoch_seconds},
      {"optimizer", optimizer_kind(optimizer)},
  };
  TensorList tensors;
  for (const auto& item : network.named_parameters()) {
    tensors.emplace_back("model/" + item.key(), item.value());
  }
  for (const auto& item : network.named_buffers()) {
    tensors.emplace_back("model/" + item.key(), item.value());
  }
  if (optimizer != nullptr) {
    nlohmann::json steps = nlohmann::json::object();
    add_optimizer_state(network, *optimizer, tensors, steps);
    meta["optimizer_steps"] = steps;
  }
  if (state.rng_state.defined()) tensors.emplace_back("rng_state", state.rng_state);
  const auto averaged = averaged_weight_names(network);
  for (std::size_t i = 0; i < state.lookahead.size() && i < averaged.size(); ++i) {
    tensors.emplace_back("lookahead/" + averaged[i], state.lookahead[i]);
  }
  write_atomically(path,
                   [&](const fs::path& tmp) { write_checkpoint_file(path, tmp, meta, tensors); });
}

TrainingState load_checkpoint(const fs::path& path, NetworkImpl& network,
                              torch::optim::Optimizer* optimizer) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw CheckpointError(path.string() + ": no checkpoint there");
  }
  CheckpointFile file(path);
  const auto& meta = file.meta();
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
  if (state.epoch < 0 || state.step_in_epoch < 0 || state.global_step < 0 || state.epoch_seen < 0) {
    file.fail("its training position is negative");
  }
  // Every tensor is read and checked before the model changes: a bad file leaves it as it was.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  for (const auto& item : network.named_parameters()) {
    const auto& t = item.value();
    copies.emplace_back(t, file.read("model/" + item.key(), t.scalar_type(), t.sizes()));
  }
  for (const auto& item : network.named_buffers()) {
    const auto& t = item.value();
    copies.emplace_back(t, file.read("model/" + item.key(), t.scalar_type(), t.sizes()));
  }
  if (file.has("rng_state")) {
    // The saved state of LibTorch's CPU generator has the size of the current one.
    const auto current = at::detail::getDefaultCPUGenerator().get_state();
    state.rng_state = file.read("rng_state", torch::kUInt8, current.sizes());
  }
  const auto averaged = averaged_weight_names(network);
  if (!averaged.empty() && file.has("lookahead/" + averaged.front())) {
    const auto weights = averaged_weights(network);
    for (std::size_t i = 0; i < averaged.size(); ++i) {
      state.lookahead.push_back(
          file.read("lookahead/" + averaged[i], weights[i].scalar_type(), weights[i].sizes()));
    }
  }
  if (optimizer != nullptr) {
    try {
      restore_optimizer(file, network, *optimizer);
    } catch (const nlohmann::json::exception& e) {
      file.fail(fmt::format("its optimizer metadata is malformed: {}", e.what()));
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& [target, value] : copies) target.copy_(value);
  return state;
}

}  // namespace cnnlab
