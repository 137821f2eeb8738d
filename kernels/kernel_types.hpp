// Element types accepted by the hand-written CUDA kernels. This header and the
// launcher headers beside it are plain C++: code built without CUDA includes them.
#pragma once
#include <cstddef>

namespace visionrt::kernels {

enum class DataType { f32, f16, bf16 };

inline size_t data_type_size(DataType t) { return t == DataType::f32 ? 4 : 2; }

inline const char* data_type_name(DataType t) {
  switch (t) {
    case DataType::f32: return "f32";
    case DataType::f16: return "f16";
    case DataType::bf16: return "bf16";
  }
  return "unknown";
}

inline bool is_valid(DataType t) {
  return t == DataType::f32 || t == DataType::f16 || t == DataType::bf16;
}

}  // namespace visionrt::kernels
