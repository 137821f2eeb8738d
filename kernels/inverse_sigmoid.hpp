// The inverse sigmoid RT-DETR's decoder applies to its reference boxes
// (inverse_sigmoid(x, eps=1e-5)), as the CPU backend's inverse_sigmoid:
//   v = x clamped to [0, 1];  out = log(max(v, 1e-5) / max(1 - v, 1e-5))
// in fp32, rounded once to the dtype. NaN stays NaN (the clamps compare, as
// std::min and std::max do, rather than drop it as fminf would).
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct InverseSigmoidParams {
  DType dtype = DType::f32;  // of input and output
  int64_t count = 0;         // elements
  const void* input = nullptr;
  void* output = nullptr;  // the input itself (in place) or apart from it
  void* stream = nullptr;  // cudaStream_t
};

// Refuses unknown types, a negative count, a count past 2^40 bytes, null
// pointers and an output partly over the input.
bool can_implement(const InverseSigmoidParams& p, std::string* why);

// Enqueues the op on p.stream; throws visionrt::Error (unsupported,
// device_error) like every launcher here.
void inverse_sigmoid(const InverseSigmoidParams& p);

}  // namespace visionrt::kernels
