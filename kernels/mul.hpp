// The element-wise product D-FINE's decoder gates with, as the CPU
// backend's mul: out[i] = a[i] * b[i] in fp32, rounded once to the dtype.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct MulParams {
  DType dtype = DType::f32;  // of a, b and output
  int64_t count = 0;         // elements of each
  const void* a = nullptr;
  const void* b = nullptr;
  void* output = nullptr;  // a or b itself (in place) or apart from both
  void* stream = nullptr;  // cudaStream_t
};

// Refuses unknown types, a negative count, a count past 2^40 bytes, null
// pointers and an output partly over an input.
bool can_implement(const MulParams& p, std::string* why);

// Enqueues the product on p.stream; throws visionrt::Error (unsupported,
// device_error) like every launcher here.
void mul(const MulParams& p);

}  // namespace visionrt::kernels
