// libFuzzer entry point of one target; CNNLAB_FUZZ_TARGET names it (see targets.h).
#include <torch/torch.h>

#include <cstddef>
#include <cstdint>

#include "cnnlab/error.h"
#include "targets.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const cnnlab::fuzz::Target target = cnnlab::fuzz::find_target(CNNLAB_FUZZ_TARGET);
  try {
    target(data, size);
  } catch (const cnnlab::Error&) {
    // Rejected with a message: the expected outcome for most inputs.
  }
  return 0;
}
