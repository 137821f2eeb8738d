// The affine map and clamp of D-FINE (HGNetV2's learnable affine block, the
// decoder's clamps), as the CPU backend's affine:
//   out = x * scale + shift, then clamped to [lo, hi] as torch.clamp
// in fp32 (one multiply-add, as nvcc contracts it), rounded once to the
// dtype. NaN stays NaN: the clamps compare, as the CPU's do, rather than
// drop it as fminf and fmaxf would. lo and hi may be infinite.
#pragma once
#include <cstdint>
#include <limits>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct AffineParams {
  DType dtype = DType::f32;  // of input and output
  int64_t count = 0;         // elements
  float scale = 1.f, shift = 0.f;
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();  // lo <= hi
  const void* input = nullptr;
  void* output = nullptr;  // the input itself (in place) or apart from it
  void* stream = nullptr;  // cudaStream_t
};

// Refuses unknown types, a negative count, a count past 2^40 bytes, lo above
// hi or either NaN, null pointers and an output partly over the input.
bool can_implement(const AffineParams& p, std::string* why);

// Enqueues the op on p.stream; throws visionrt::Error (unsupported,
// device_error) like every launcher here.
void affine(const AffineParams& p);

}  // namespace visionrt::kernels
