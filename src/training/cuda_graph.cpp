#include "cnnlab/training/cuda_graph.h"

#include <ATen/autocast_mode.h>
#include <c10/util/Exception.h>
#include <torch/torch.h>

#ifdef CNNLAB_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace cnnlab {

#ifdef CNNLAB_WITH_CUDA

struct CudaGraph::Impl {
  at::cuda::CUDAGraph graph;
};

CudaGraph::CudaGraph(const std::function<void(bool recording)>& work,
                     const std::function<void()>& before_recording)
    : impl_(std::make_unique<Impl>()) {
  // CUDA records only on a stream other than the default one; the side stream starts after the
  // work queued so far and the default stream continues after the recording.
  torch::cuda::synchronize();
  auto stream = c10::cuda::getStreamFromPool();
  {
    c10::cuda::CUDAStreamGuard guard(stream);
    work(false);
  }
  torch::cuda::synchronize();
  if (before_recording) before_recording();
  // Autocast's cache of cast weights would hand the graph tensors freed after recording.
  const bool cache = at::autocast::is_autocast_cache_enabled();
  at::autocast::set_autocast_cache_enabled(false);
  try {
    c10::cuda::CUDAStreamGuard guard(stream);
    impl_->graph.capture_begin();
    try {
      work(true);
    } catch (...) {
      try {
        impl_->graph.capture_end();
      } catch (...) {
      }
      throw;
    }
    impl_->graph.capture_end();
  } catch (...) {
    at::autocast::set_autocast_cache_enabled(cache);
    throw;
  }
  at::autocast::set_autocast_cache_enabled(cache);
  torch::cuda::synchronize();
}

void CudaGraph::replay() { impl_->graph.replay(); }

#else

struct CudaGraph::Impl {};

CudaGraph::CudaGraph(const std::function<void(bool recording)>& /*work*/,
                     const std::function<void()>& /*before_recording*/) {
  TORCH_CHECK(false, "CUDA graphs need cnnlab built against a CUDA LibTorch");
}

void CudaGraph::replay() {}

#endif

CudaGraph::~CudaGraph() = default;

}  // namespace cnnlab
