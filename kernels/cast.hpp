// Element type conversion on the GPU between f32, f16 and bf16, rounding to
// nearest even (overflow to infinity, gradual underflow) as core/half.hpp
// does on the CPU. Every value goes through fp32, which holds f16 and bf16
// exactly, so each conversion rounds once.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct CastParams {
  DType from = DType::f32, to = DType::f16;
  int64_t count = 0;            // elements
  const void* input = nullptr;  // count elements of `from`
  void* output = nullptr;       // count elements of `to`; must not overlap the input
  void* stream = nullptr;       // cudaStream_t
};

bool can_implement(const CastParams& p, std::string* why);

// Enqueues the conversion on p.stream (a plain copy when from == to); throws
// visionrt::Error: unsupported when can_implement refuses p, device_error when
// the launch fails.
void cast(const CastParams& p);

}  // namespace visionrt::kernels
