#include "cnnlab/training/distributed.h"

#include <fmt/format.h>

#ifdef CNNLAB_WITH_DISTRIBUTED
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

#include "cnnlab/error.h"

namespace cnnlab {

#ifdef CNNLAB_WITH_DISTRIBUTED

bool distributed_built() { return true; }

namespace {

// LibTorch 2.x's TCPStore serves with its libuv backend by default (TCPStoreOptions::useLibUV), and
// a LibTorch built without libuv (Debian's 2.x) refuses it: there the classic backend serves.
// LibTorch 1.x has only the classic one, and no such option.
template <typename StoreOptions>
auto use_classic_store(StoreOptions& options, int) -> decltype(options.useLibUV = false, true) {
  if (!options.useLibUV) return false;
  options.useLibUV = false;
  return true;
}
template <typename StoreOptions>
bool use_classic_store(StoreOptions&, long) {
  return false;
}

c10::intrusive_ptr<c10d::TCPStore> connect_store(const std::string& host,
                                                 c10d::TCPStoreOptions options) {
  try {
    return c10::make_intrusive<c10d::TCPStore>(host, options);
  } catch (const std::exception& e) {
    const bool libuv_missing = std::string(e.what()).find("libuv") != std::string::npos;
    if (!libuv_missing || !use_classic_store(options, 0)) throw;
    return c10::make_intrusive<c10d::TCPStore>(host, options);
  }
}

}  // namespace

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

ProcessGroup::ProcessGroup(const DistributedOptions& options)
    : options_(options), impl_(std::make_unique<Impl>()) {
  const std::string where = fmt::format("{}:{}", options.master_addr, options.master_port);
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(options.master_port);
    store_options.isServer = options.rank == 0;
    store_options.numWorkers = static_cast<std::size_t>(options.world_size);
    store_options.waitWorkers = false;
    store_options.timeout = options.timeout;
    impl_->store = connect_store(options.master_addr, store_options);
  } catch (const std::exception& e) {
    throw Error(fmt::format(
        "{}: rank {} could not {} the rendezvous (MASTER_ADDR:MASTER_PORT) within {} s: {}", where,
        options.rank, options.rank == 0 ? "serve" : "reach", options.timeout.count(),
        torch_error_message(e)));
  }
  // Every process must agree on the world size: rank 0's is the reference.
  const std::string world = share("cnnlab/world_size", std::to_string(options.world_size));
  if (world != std::to_string(options.world_size)) {
    throw ConfigError(fmt::format("WORLD_SIZE: rank {} was started with {}, rank 0 with {}",
                                  options.rank, options.world_size, world));
  }
  try {
    auto group_options = c10d::ProcessGroupGloo::Options::create();
    group_options->timeout = options.timeout;
    // On one machine the ranks talk over loopback; across machines each binds the interface
    // GLOO_SOCKET_IFNAME names, else the one its own host name resolves to (as PyTorch does).
    const bool local =
        options.master_addr == "localhost" || options.master_addr.rfind("127.", 0) == 0;
    group_options->devices.push_back(
        local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
        : !options.socket_interface.empty()
            ? c10d::ProcessGroupGloo::createDeviceForInterface(options.socket_interface)
            : c10d::ProcessGroupGloo::createDefaultDevice());
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(
        impl_->store, static_cast<int>(options.rank), static_cast<int>(options.world_size),
        group_options);
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: rank {} could not join the other {} process(es) within {} s: {}",
                            where, options.rank, options.world_size - 1, options.timeout.count(),
                            torch_error_message(e)));
  }
}

std::string ProcessGroup::share(const std::string& key, const std::string& value) {
  try {
    if (options_.rank == 0) {
      impl_->store->set(key, std::vector<uint8_t>(value.begin(), value.end()));
      return value;
    }
    const auto bytes = impl_->store->get(key);
    return std::string(bytes.begin(), bytes.end());
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}:{}: rank {} heard nothing from rank 0 within {} s: {}",
                            options_.master_addr, options_.master_port, options_.rank,
                            options_.timeout.count(), torch_error_message(e)));
  }
}

void ProcessGroup::all_reduce_sum(torch::Tensor& values) {
  std::vector<torch::Tensor> tensors{values};
  impl_->group->allreduce(tensors)->wait();
}

void ProcessGroup::broadcast(const std::vector<torch::Tensor>& tensors) {
  if (tensors.empty()) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> flat{torch::cat([&] {
    std::vector<torch::Tensor> parts;
    for (const auto& t : tensors) parts.push_back(t.detach().reshape({-1}).to(torch::kFloat64));
    return parts;
  }())};
  impl_->group->broadcast(flat)->wait();
  int64_t offset = 0;
  for (const auto& t : tensors) {
    const int64_t n = t.numel();
    t.detach().copy_(flat[0].slice(0, offset, offset + n).view(t.sizes()));
    offset += n;
  }
}

void ProcessGroup::all_reduce_gradients(const std::vector<torch::Tensor>& parameters,
                                        double divisor, int64_t bucket_bytes) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (const auto& p : parameters) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  std::size_t begin = 0;
  while (begin < grads.size()) {
    std::size_t end = begin;
    int64_t bytes = 0;
    std::vector<torch::Tensor> parts;
    while (end < grads.size() && (parts.empty() || bytes < bucket_bytes)) {
      parts.push_back(grads[end].reshape({-1}));
      bytes += grads[end].numel() * static_cast<int64_t>(grads[end].element_size());
      ++end;
    }
    std::vector<torch::Tensor> bucket{torch::cat(parts)};
    impl_->group->allreduce(bucket)->wait();
    bucket[0].div_(divisor);
    int64_t offset = 0;
    for (std::size_t i = begin; i < end; ++i) {
      const int64_t n = grads[i].numel();
      grads[i].copy_(bucket[0].slice(0, offset, offset + n).view(grads[i].sizes()));
      offset += n;
    }
    begin = end;
  }
}

#else

bool distributed_built() { return false; }

struct ProcessGroup::Impl {};

ProcessGroup::ProcessGroup(const DistributedOptions& options) : options_(options) {
  throw ConfigError(
      "this cnnlab was built without LibTorch's distributed engine (c10d with Gloo); install "
      "libgloo-dev and rebuild (CMake option CNNLAB_DISTRIBUTED, on by default) to train across "
      "processes");
}
std::string ProcessGroup::share(const std::string&, const std::string& value) { return value; }
void ProcessGroup::all_reduce_sum(torch::Tensor&) {}
void ProcessGroup::broadcast(const std::vector<torch::Tensor>&) {}
void ProcessGroup::all_reduce_gradients(const std::vector<torch::Tensor>&, double, int64_t) {}

#endif

namespace {

// All-reduce as an autograd function: forward sums over the processes, and so does backward.
struct AllReduceSum : torch::autograd::Function<AllReduceSum> {
  static torch::Tensor forward(torch::autograd::AutogradContext* context,
                               const torch::Tensor& input, int64_t group) {
    context->saved_data["group"] = group;
    auto sum = input.detach().clone();
    reinterpret_cast<ProcessGroup*>(group)->all_reduce_sum(sum);
    return sum;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list grads) {
    auto sum = grads[0].contiguous().clone();
    reinterpret_cast<ProcessGroup*>(context->saved_data["group"].toInt())->all_reduce_sum(sum);
    return {sum, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor ProcessGroup::sum_differentiable(const torch::Tensor& values) {
  return AllReduceSum::apply(values, reinterpret_cast<int64_t>(this));
}

ProcessGroup::~ProcessGroup() = default;

}  // namespace cnnlab
