#include "cnnlab/training/precision.h"

#include <ATen/autocast_mode.h>
#include <fmt/format.h>

#include "cnnlab/error.h"

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

Precision resolve_precision(Precision precision) {
  if (precision != Precision::kAuto) return precision;
  return cpu_has_native_bf16() ? Precision::kBFloat16 : Precision::kFloat32;
}

PrecisionGuard::PrecisionGuard(Precision precision) {
  if (resolve_precision(precision) != Precision::kBFloat16) return;
  active_ = true;
  was_enabled_ = at::autocast::is_cpu_enabled();
  previous_dtype_ = static_cast<int>(at::autocast::get_autocast_cpu_dtype());
  at::autocast::set_cpu_enabled(true);
  at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  at::autocast::increment_nesting();
}

PrecisionGuard::~PrecisionGuard() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_cpu_enabled(was_enabled_);
  at::autocast::set_autocast_cpu_dtype(static_cast<at::ScalarType>(previous_dtype_));
}

}  // namespace cnnlab
