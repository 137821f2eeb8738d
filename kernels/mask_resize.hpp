// DETR's padding mask brought to the feature map's resolution, as the CPU
// backend's mask_resize (torch.nn.functional.interpolate, mode="nearest",
// with an output size) followed by a test for non-zero:
//   sy = float(in_h) / float(out_h), sx = float(in_w) / float(out_w)
//   iy = min(floor(float(y) * sy), in_h - 1), ix likewise
//   output[n, y * out_w + x] = mask[n, iy, ix] != 0 ? 1 : 0
// The scales and products are single fp32 operations, correctly rounded on
// the GPU as on the CPU, so the source pixels, and the output, are identical.
// f32 only: the mask is f32 whatever the graph computes in.
#pragma once
#include <cstdint>
#include <string>

namespace visionrt::kernels {

struct MaskResizeParams {
  int64_t batch = 0, in_h = 0, in_w = 0;
  int64_t out_h = 0, out_w = 0;
  const float* mask = nullptr;  // [batch, in_h, in_w]
  float* output = nullptr;      // [batch, out_h * out_w]; must not overlap mask
  void* stream = nullptr;       // cudaStream_t
};

// Refuses empty or negative sizes, sides past 2^24 (where a float no longer
// holds every index), outputs past 2^31 elements, null pointers and overlap.
bool can_implement(const MaskResizeParams& p, std::string* why);

// Enqueues the resize on p.stream; throws visionrt::Error: unsupported when
// can_implement refuses p, device_error when the launch fails.
void mask_resize(const MaskResizeParams& p);

}  // namespace visionrt::kernels
