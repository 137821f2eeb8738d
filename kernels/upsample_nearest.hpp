// Nearest-neighbour upsampling of NHWC activations by a whole factor, as
// RT-DETR's hybrid encoder doubles its top-down maps (F.interpolate,
// scale_factor=2, mode="nearest") and as the CPU backend's upsample_nearest:
//   out[n, y, x, c] = x[n, y / factor, x / factor, c]
// A copy: every value stored is one read, so nothing rounds.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct UpsampleNearestParams {
  DType dtype = DType::f32;  // of input and output
  int64_t batch = 0, height = 0, width = 0, channels = 0;  // of the input
  int factor = 1;                // 1 to 64, on both axes
  const void* input = nullptr;   // [batch, height, width, channels]
  void* output = nullptr;  // [batch, height * factor, width * factor, channels]; not overlapping input
  void* stream = nullptr;  // cudaStream_t
};

// Refuses unknown types, a factor outside 1..64, an empty pixel, an output
// past 2^40 bytes, null pointers and overlapping buffers.
bool can_implement(const UpsampleNearestParams& p, std::string* why);

// Enqueues the copy on p.stream; throws visionrt::Error: unsupported when
// can_implement refuses p, device_error when the launch fails.
void upsample_nearest(const UpsampleNearestParams& p);

}  // namespace visionrt::kernels
