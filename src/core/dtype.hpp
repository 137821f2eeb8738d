// The one element-type vocabulary of the engine: graph values, tensors, the
// CPU and CUDA kernels and their launchers all speak DType. Plain C++ (no
// CUDA), so kernel headers use it too.
#pragma once
#include <cstddef>
#include <cstdint>

namespace visionrt {

enum class DType : uint8_t { f32, f16, bf16, u8, i32, i64 };

// One row per dtype: what every switch over dtypes used to say apart.
struct DTypeTraits {
  const char* name;  // as safetensors names it
  size_t size;       // bytes per element
  bool is_float;     // a floating-point type the kernels compute with
};

constexpr DTypeTraits kDTypeTraits[] = {
    {"F32", 4, true}, {"F16", 2, true}, {"BF16", 2, true}, {"U8", 1, false}, {"I32", 4, false}, {"I64", 8, false},
};

// A value outside the enum (a corrupt or hostile one) reads as no dtype at
// all: no size, not a float, so every check refuses it.
constexpr DTypeTraits kNoDType{"?", 0, false};
constexpr const DTypeTraits& dtype_traits(DType t) {
  return static_cast<size_t>(t) < sizeof(kDTypeTraits) / sizeof(kDTypeTraits[0]) ? kDTypeTraits[static_cast<size_t>(t)]
                                                                                   : kNoDType;
}
constexpr size_t dtype_size(DType t) { return dtype_traits(t).size; }
constexpr const char* dtype_name(DType t) { return dtype_traits(t).name; }
constexpr bool is_float(DType t) { return dtype_traits(t).is_float; }

// The one host converter between the float dtypes (round to nearest even):
// n elements of `from` at src to `to` at dst. Throws unsupported for a dtype
// that is not a float.
void convert_floats(const void* src, DType from, void* dst, DType to, int64_t n);

}  // namespace visionrt
