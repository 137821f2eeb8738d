// The image batch from PyTorch's channel-first layout to the channel-last one
// the convolutions read, as the CPU backend's nchw_to_nhwc:
//   output[n, y, x, c] = input[n, c, y, x]
// A copy: every element arrives bit for bit, NaN payloads and signed zeros included.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct NchwToNhwcParams {
  DType dtype = DType::f32;  // of input and output (f32, f16 or bf16: only the size matters)
  int64_t batch = 0, channels = 0, height = 0, width = 0;
  const void* input = nullptr;  // [batch, channels, height, width]
  void* output = nullptr;       // [batch, height, width, channels]; must not overlap input
  void* stream = nullptr;       // cudaStream_t
};

// Refuses unknown types, empty or negative sizes (batch 0 is a no-op),
// tensors past 2^40 elements, null pointers and overlapping buffers.
bool can_implement(const NchwToNhwcParams& p, std::string* why);

// Enqueues the transpose on p.stream; throws visionrt::Error: unsupported when
// can_implement refuses p, device_error when the launch fails.
void nchw_to_nhwc(const NchwToNhwcParams& p);

}  // namespace visionrt::kernels
