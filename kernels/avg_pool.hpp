// Average pooling of NHWC activations in ceil mode, as the ResNet-vd
// shortcut of RT-DETR's backbone pools (AvgPool2d(k, s, 0, ceil_mode=True))
// and as the CPU backend's avg_pool computes it:
//   out[n, oy, ox, c] = (sum over the window's cells inside the input of
//                        x[n, oy * stride + ky, ox * stride + kx, c]) / cells
// The last window along an axis may run past the input (ceil mode): it
// counts when it starts inside, and divides by the cells it covers, not by
// kernel^2. No padding. Sums in fp32, then one multiply by 1 / cells.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct AvgPoolParams {
  DType dtype = DType::f32;  // of input and output
  int64_t batch = 0, height = 0, width = 0, channels = 0;
  int kernel = 0, stride = 1;  // square window, same on both axes
  const void* input = nullptr;  // [batch, height, width, channels]
  void* output = nullptr;  // [batch, out_h, out_w, channels]; must not overlap input
  void* stream = nullptr;  // cudaStream_t
};

// Output length along an axis of `in` elements in ceil mode:
// ceil((in - kernel) / stride) + 1, less the last window if it would start
// past the input; 0 when not one window fits (or stride < 1).
int64_t avg_pool_out_size(int64_t in, int kernel, int stride);

// Refuses unknown types, kernel or stride below 1, an input smaller than
// the window, sizes past 2^31 elements, null pointers and overlapping buffers.
bool can_implement(const AvgPoolParams& p, std::string* why);

// Enqueues the pooling on p.stream; throws visionrt::Error: unsupported when
// can_implement refuses p, device_error when the launch fails.
void avg_pool(const AvgPoolParams& p);

}  // namespace visionrt::kernels
