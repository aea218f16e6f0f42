#include "cnnlab/training/device.h"

#include <ATen/Version.h>
#include <fmt/format.h>

#include <cctype>
#include <cstdlib>

#ifdef CNNLAB_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include "cnnlab/error.h"
#include "cnnlab/training/precision.h"

namespace cnnlab {

namespace {

// "cuda:N" → N; -1 for "cuda"; throws for anything else after "cuda".
int64_t cuda_index(const std::string& text, const std::string& where) {
  if (text == "cuda") return -1;
  const std::string digits = text.substr(5);
  const bool ok = text.rfind("cuda:", 0) == 0 && !digits.empty() && digits.size() <= 4 &&
                  std::all_of(digits.begin(), digits.end(),
                              [](unsigned char c) { return std::isdigit(c) != 0; });
  if (!ok) {
    throw ConfigError(
        fmt::format("{}: unknown device '{}': expected cpu, cuda, cuda:N or auto", where, text));
  }
  return std::stoll(digits);
}

}  // namespace

bool cuda_built() {
#ifdef CNNLAB_WITH_CUDA
  return true;
#else
  return false;
#endif
}

int64_t cuda_device_count() { return static_cast<int64_t>(torch::cuda::device_count()); }

void check_device_spelling(const std::string& text, const std::string& where) {
  if (text == "cpu" || text == "auto") return;
  if (text.rfind("cuda", 0) == 0) {
    cuda_index(text, where);
    return;
  }
  throw ConfigError(
      fmt::format("{}: unknown device '{}': expected cpu, cuda, cuda:N or auto", where, text));
}

torch::Device resolve_device(const std::string& text, const std::string& where) {
  check_device_spelling(text, where);
  if (text == "cpu") return torch::kCPU;
  const int64_t count = cuda_built() ? cuda_device_count() : 0;
  if (text == "auto")
    return count > 0 ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (!cuda_built()) {
    throw ConfigError(fmt::format(
        "{}: '{}' asks for a CUDA GPU, but this cnnlab is built on a LibTorch without CUDA "
        "(LibTorch {}); build it against a CUDA LibTorch, or use --device cpu",
        where, text, TORCH_VERSION));
  }
  if (count == 0) {
    throw ConfigError(
        fmt::format("{}: '{}' asks for a CUDA GPU, but LibTorch sees none (check the driver and "
                    "CUDA_VISIBLE_DEVICES), or use --device cpu",
                    where, text));
  }
  const int64_t index = std::max<int64_t>(cuda_index(text, where), 0);
  if (index >= count) {
    throw ConfigError(fmt::format("{}: '{}' asks for GPU {}, but LibTorch sees {} (cuda:0{})",
                                  where, text, index, count,
                                  count > 1 ? fmt::format(" to cuda:{}", count - 1) : ""));
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

std::string device_description(const torch::Device& device) {
  if (!device.is_cuda()) return "cpu";
#ifdef CNNLAB_WITH_CUDA
  const auto* properties = at::cuda::getDeviceProperties(device.index() < 0 ? 0 : device.index());
  return fmt::format("{} (cuda:{})", properties->name, device.index() < 0 ? 0 : device.index());
#else
  return device.str();
#endif
}

bool device_has_native_bf16(const torch::Device& device) {
  if (!device.is_cuda()) return cpu_has_native_bf16();
#ifdef CNNLAB_WITH_CUDA
  return at::cuda::getDeviceProperties(device.index() < 0 ? 0 : device.index())->major >= 8;
#else
  return false;
#endif
}

void prepare_device(const torch::Device& device) {
  if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

bool cpu_has_avx512() {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  static const bool has =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("fma");
  return has;
#else
  return false;
#endif
}

void prefer_avx512_kernels() {
  // LibTorch believes the variable without asking the CPU, so it is set only where the CPU has
  // what the kernels need; overwrite = 0 leaves a user's own choice alone.
  if (cpu_has_avx512()) setenv("ATEN_CPU_CAPABILITY", "avx512", 0);
}

std::string cpu_kernels() {
  const std::string config = at::show_config();
  const std::string key = "CPU capability usage: ";
  const auto at = config.find(key);
  if (at == std::string::npos) return "unknown";
  const auto begin = at + key.size();
  return config.substr(begin, config.find('\n', begin) - begin);
}

}  // namespace cnnlab
