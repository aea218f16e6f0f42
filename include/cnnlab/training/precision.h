#pragma once

#include <torch/torch.h>

#include <string>

namespace cnnlab {

/// The arithmetic a run trains and evaluates in. Weights, optimizer state and checkpoints stay
/// float32 in every mode; kBFloat16 runs convolutions, matrix products and the ops LibTorch's
/// autocast lists in bfloat16 (autocast, as `torch.autocast("cpu", torch.bfloat16)` in Python).
enum class Precision {
  /// bfloat16 where the processor has native bfloat16 arithmetic (AVX-512 BF16 or AMX), else
  /// float32.
  kAuto,
  kFloat32,
  kBFloat16,
};

/// "auto", "fp32", "bf16".
const char* precision_name(Precision precision);

/// Parses "auto", "fp32" or "bf16"; throws ConfigError naming `where` otherwise.
Precision parse_precision(const std::string& text, const std::string& where);

/// Whether this processor computes in bfloat16 natively (x86: AVX-512 BF16 or AMX-BF16).
bool cpu_has_native_bf16();

/// kAuto resolved for `device` (bfloat16 where it computes in bfloat16 natively: see
/// device_has_native_bf16); kFloat32 and kBFloat16 unchanged.
Precision resolve_precision(Precision precision, const torch::Device& device = torch::kCPU);

/// Turns LibTorch's autocast to bfloat16 on for `device` for its lifetime when `precision`
/// resolves to kBFloat16, and does nothing otherwise. Guards nest; the outermost one restores the
/// previous state and frees autocast's cache of cast weights.
class PrecisionGuard {
 public:
  explicit PrecisionGuard(Precision precision, const torch::Device& device = torch::kCPU);
  ~PrecisionGuard();
  PrecisionGuard(const PrecisionGuard&) = delete;
  PrecisionGuard& operator=(const PrecisionGuard&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType device_type_ = c10::DeviceType::CPU;
  bool was_enabled_ = false;
  int previous_dtype_ = 0;
};

}  // namespace cnnlab
