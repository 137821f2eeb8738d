// Zero padding of NHWC activations, as torch's F.pad(x, (before, after,
// before, after)) on an NCHW tensor and the CPU backend's pad_spatial:
//   out [N, H + before + after, W + before + after, C]
//   out[n, y, x, c] = x[n, y - before, x - before, c] inside, +0 around
// (HGNetV2's stem pads (0, 1, 0, 1) before its 2x2 convolutions and pool).
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct PadSpatialParams {
  DType dtype = DType::f32;  // of input and output
  int64_t batch = 0, height = 0, width = 0, channels = 0;
  int before = 0, after = 0;    // cells above and left, below and right
  const void* input = nullptr;  // [batch, height, width, channels]
  void* output = nullptr;       // [batch, out_h, out_w, channels]; must not overlap input
  void* stream = nullptr;       // cudaStream_t
};

// Refuses unknown types, bad sizes, negative pads, tensors past 2^31
// elements, null pointers and overlapping buffers.
bool can_implement(const PadSpatialParams& p, std::string* why);

// Enqueues the copy on p.stream; throws visionrt::Error: unsupported when
// can_implement refuses p, device_error when the launch fails.
void pad_spatial(const PadSpatialParams& p);

}  // namespace visionrt::kernels
