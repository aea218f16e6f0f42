#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cnnlab {

/// Where a process stands in a data-parallel run: the torchrun environment.
struct DistributedOptions {
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
  /// How long a collective (or the rendezvous) may wait for the other processes.
  std::chrono::seconds timeout{120};
  /// The network interface Gloo binds across machines (GLOO_SOCKET_IFNAME); empty: the one the
  /// host name resolves to. On one machine the processes talk over loopback.
  std::string socket_interface;
};

/// Whether this cnnlab was built with LibTorch's distributed engine (c10d with Gloo).
bool distributed_built();

/// The processes of a data-parallel run, joined through LibTorch's c10d: a TCPStore rendezvous
/// at MASTER_ADDR:MASTER_PORT (rank 0 serves it) and a Gloo process group over TCP.
class ProcessGroup {
 public:
  /// Joins the others; throws Error with a message naming the address, port or variable when the
  /// port is taken, the master cannot be reached in time, or the world sizes disagree.
  explicit ProcessGroup(const DistributedOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int64_t rank() const { return options_.rank; }
  int64_t world_size() const { return options_.world_size; }
  const DistributedOptions& options() const { return options_; }

  /// Sums `values` (float64, any shape) over all processes, in place.
  void all_reduce_sum(torch::Tensor& values);
  /// Overwrites `tensors` with rank 0's (all processes pass the same shapes).
  void broadcast(const std::vector<torch::Tensor>& tensors);
  /// Sums the gradients of `parameters` over all processes, as DDP does: flattened into buckets
  /// of about `bucket_bytes`, one all-reduce per bucket, then divided by `divisor`.
  void all_reduce_gradients(const std::vector<torch::Tensor>& parameters, double divisor,
                            int64_t bucket_bytes = 25 << 20);
  /// The sum of `values` over all processes, differentiable: its gradient is the sum of the
  /// processes' gradients (each process must run the same backward pass). For SyncBatchNorm.
  torch::Tensor sum_differentiable(const torch::Tensor& values);
  /// Rank 0 publishes `value` under `key`; the others wait for it (up to the timeout).
  std::string share(const std::string& key, const std::string& value);

 private:
  struct Impl;
  DistributedOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cnnlab
