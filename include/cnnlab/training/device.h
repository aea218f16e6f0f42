#pragma once

#include <torch/torch.h>

#include <string>

namespace cnnlab {

/// Whether this LibTorch was built with CUDA (cnnlab then compiles its CUDA code too).
bool cuda_built();

/// Number of CUDA GPUs LibTorch sees (0 on a CPU-only build).
int64_t cuda_device_count();

/// Checks the spelling of a device: "cpu", "cuda", "cuda:N" or "auto". Throws ConfigError naming
/// `where` otherwise. Says nothing about whether the device exists (resolve_device does).
void check_device_spelling(const std::string& text, const std::string& where);

/// The device a run computes on. "auto" is the first CUDA GPU when LibTorch sees one, else the
/// CPU. Throws ConfigError naming `where` for a misspelling, for "cuda" where LibTorch has no
/// CUDA or sees no GPU, and for "cuda:N" past the last GPU.
torch::Device resolve_device(const std::string& text, const std::string& where);

/// "cpu", or the GPU's name and number: "NVIDIA H200 (cuda:0)".
std::string device_description(const torch::Device& device);

/// Whether the device computes in bfloat16 natively: the CPU test of cpu_has_native_bf16, or a
/// CUDA GPU of compute capability 8.0 (Ampere) or later.
bool device_has_native_bf16(const torch::Device& device);

/// For a CUDA device: cuDNN picks the fastest convolution algorithm for each shape it meets
/// (autotuning, `torch.backends.cudnn.benchmark = True` in Python). TF32 stays as LibTorch sets
/// it. Nothing for the CPU.
void prepare_device(const torch::Device& device);

/// Whether the CPU has the parts of AVX-512 that LibTorch's AVX-512 kernels use (F, VL, BW and
/// DQ) and FMA.
bool cpu_has_avx512();

/// Makes LibTorch run its AVX-512 CPU kernels on a CPU that has AVX-512, unless the environment
/// variable ATEN_CPU_CAPABILITY already names the kernels to run (`ATEN_CPU_CAPABILITY=avx2`
/// keeps the AVX2 ones). LibTorch 1.12 and 1.13 ship both but run AVX2 unless asked; PyTorch 2
/// picks AVX-512 by itself. Elementwise work in bfloat16 gains most (GELU, batch norm, pooling).
/// LibTorch chooses once per process, at its first tensor operation: call this before it.
void prefer_avx512_kernels();

/// The CPU kernels LibTorch runs, as its build description names them: "AVX512", "AVX2",
/// "NO AVX" ("unknown" where the description has no such line).
std::string cpu_kernels();

/// Waits until the device has finished the work queued so far (nothing on the CPU).
void synchronize(const torch::Device& device);

}  // namespace cnnlab
