// Max pooling of NHWC activations (the ResNet stem's 3x3, stride-2 pool), as
// the CPU backend's max_pool:
//   out[n, oy, ox, c] = max over ky, kx < kernel of
//                       x[n, oy * stride - pad + ky, ox * stride - pad + kx, c]
// with out_size = (in + 2 * pad - kernel) / stride + 1 per axis. Taps in the
// padding are -inf, as torch pads, so they never win; a window lying wholly in
// the padding (pad >= kernel) gives -inf. NaN inputs are skipped, as the CPU's
// std::max(running, x) skips them (fmaxf). A max is exact: no rounding.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct MaxPoolParams {
  DType dtype = DType::f32;  // of input and output
  int64_t batch = 0, height = 0, width = 0, channels = 0;
  int kernel = 0, stride = 1, pad = 0;  // square window, same on both axes
  const void* input = nullptr;          // [batch, height, width, channels]
  void* output = nullptr;  // [batch, out_h, out_w, channels]; must not overlap input
  void* stream = nullptr;  // cudaStream_t
};

// Output length along an axis of `in` elements: (in + 2 pad - kernel) / stride + 1,
// or 0 when not one window fits (or stride < 1).
int64_t max_pool_out_size(int64_t in, int kernel, int stride, int pad);

// Refuses unknown types, kernel or stride below 1, a negative pad, an empty
// output, sizes past 2^31 elements, null pointers and overlapping buffers.
bool can_implement(const MaxPoolParams& p, std::string* why);

// Enqueues the pooling on p.stream; throws visionrt::Error: unsupported when
// can_implement refuses p, device_error when the launch fails.
void max_pool(const MaxPoolParams& p);

}  // namespace visionrt::kernels
