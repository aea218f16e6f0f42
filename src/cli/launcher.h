#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cnnlab/training/distributed.h"

namespace cnnlab::cli {

/// `cnnlab train --nproc N`: starts N copies of this command on this machine, rank 0 … N-1,
/// with the torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1 and a free
/// MASTER_PORT unless one is set) and `threads` LibTorch threads each (appended as --threads when
/// `add_threads`). Rank 0 prints; the others' standard output is dropped. When a rank dies, the
/// others are given `grace_seconds` to stop on their own, then killed. Returns the exit status:
/// 0 when every rank succeeded, 130 when the run was interrupted, else 1, with a message naming
/// the rank that failed first.
int launch_ranks(int nproc, const std::vector<std::string>& command, bool add_threads, int threads,
                 int grace_seconds = 10);

/// The torchrun environment of this process: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
/// MASTER_PORT (and CNNLAB_DIST_TIMEOUT, in seconds, and GLOO_SOCKET_IFNAME). nullopt when
/// WORLD_SIZE is unset; throws ConfigError naming the variable when one is malformed, out of
/// range or missing.
std::optional<DistributedOptions> distributed_from_environment();

}  // namespace cnnlab::cli
