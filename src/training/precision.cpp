#include "cnnlab/training/precision.h"

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <torch/version.h>

#include "cnnlab/error.h"
#include "cnnlab/training/device.h"

namespace cnnlab {

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::kAuto:
      return "auto";
    case Precision::kFloat32:
      return "fp32";
    case Precision::kBFloat16:
      return "bf16";
  }
  return "?";
}

Precision parse_precision(const std::string& text, const std::string& where) {
  for (auto precision : {Precision::kAuto, Precision::kFloat32, Precision::kBFloat16}) {
    if (text == precision_name(precision)) return precision;
  }
  throw ConfigError(
      fmt::format("{}: unknown precision '{}': expected one of auto, fp32, bf16", where, text));
}

bool cpu_has_native_bf16() {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  static const bool has = __builtin_cpu_supports("avx512bf16") != 0;
  return has;
#else
  return false;
#endif
}

Precision resolve_precision(Precision precision, const torch::Device& device) {
  if (precision != Precision::kAuto) return precision;
  return device_has_native_bf16(device) ? Precision::kBFloat16 : Precision::kFloat32;
}

namespace {

// LibTorch 2.4 names the device in one set of autocast functions; 1.x has one set per device.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(c10::DeviceType type) { return at::autocast::is_autocast_enabled(type); }
at::ScalarType autocast_dtype(c10::DeviceType type) {
  return at::autocast::get_autocast_dtype(type);
}
void set_autocast(c10::DeviceType type, bool enabled, at::ScalarType dtype) {
  at::autocast::set_autocast_enabled(type, enabled);
  at::autocast::set_autocast_dtype(type, dtype);
}
#else
bool autocast_enabled(c10::DeviceType type) {
  return type == c10::DeviceType::CUDA ? at::autocast::is_enabled()
                                       : at::autocast::is_cpu_enabled();
}
at::ScalarType autocast_dtype(c10::DeviceType type) {
  return type == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype()
                                       : at::autocast::get_autocast_cpu_dtype();
}
void set_autocast(c10::DeviceType type, bool enabled, at::ScalarType dtype) {
  if (type == c10::DeviceType::CUDA) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
}
#endif

}  // namespace

PrecisionGuard::PrecisionGuard(Precision precision, const torch::Device& device) {
  if (resolve_precision(precision, device) != Precision::kBFloat16) return;
  active_ = true;
  device_type_ = device.type();
  was_enabled_ = autocast_enabled(device_type_);
  previous_dtype_ = static_cast<int>(autocast_dtype(device_type_));
  set_autocast(device_type_, true, at::kBFloat16);
  at::autocast::increment_nesting();
}

PrecisionGuard::~PrecisionGuard() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast(device_type_, was_enabled_, static_cast<at::ScalarType>(previous_dtype_));
}

}  // namespace cnnlab
