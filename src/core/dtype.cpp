#include "core/dtype.hpp"

#include <cstring>

#include "core/error.hpp"
#include "core/half.hpp"

namespace visionrt {

void convert_floats(const void* src, DType from, void* dst, DType to, int64_t n) {
  if (!is_float(from) || !is_float(to))
    fail(StatusCode::unsupported, "cannot convert ", dtype_name(from), " data to ", dtype_name(to));
  if (n <= 0) return;  // an empty tensor may have no data at all
  if (from == to) {
    std::memcpy(dst, src, static_cast<size_t>(n) * dtype_size(to));
    return;
  }
  auto load = [&](int64_t i) {
    switch (from) {
      case DType::f16: return half_to_float(static_cast<const uint16_t*>(src)[i]);
      case DType::bf16: return bf16_to_float(static_cast<const uint16_t*>(src)[i]);
      default: return static_cast<const float*>(src)[i];
    }
  };
  for (int64_t i = 0; i < n; ++i) {
    const float v = load(i);
    switch (to) {
      case DType::f16: static_cast<uint16_t*>(dst)[i] = float_to_half(v); break;
      case DType::bf16: static_cast<uint16_t*>(dst)[i] = float_to_bf16(v); break;
      default: static_cast<float*>(dst)[i] = v; break;
    }
  }
}

}  // namespace visionrt
