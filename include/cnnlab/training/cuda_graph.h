#pragma once

#include <functional>
#include <memory>

namespace cnnlab {

/// Work on a CUDA GPU recorded once and replayed: LibTorch's CUDA graph, which launches every
/// kernel of, say, a whole training step in one call instead of one launch per operation. The
/// work must read and write the same tensors (same shapes, same addresses) on every replay.
/// Available where cnnlab is built against a CUDA LibTorch (cuda_built()).
class CudaGraph {
 public:
  /// Runs `work(false)` once on a side stream, which warms up what the first run of each
  /// operation sets up (cuDNN's algorithm search, library handles, the memory pool), then
  /// `before_recording()`, then records `work(true)` without running it. Waits for the GPU before
  /// and after. Throws c10::Error when the recording fails, or where cnnlab has no CUDA.
  CudaGraph(const std::function<void(bool recording)>& work,
            const std::function<void()>& before_recording);
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  /// Launches the recorded work on the current stream (no waiting).
  void replay();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cnnlab
