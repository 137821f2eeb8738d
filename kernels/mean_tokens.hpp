// The mean of a range of tokens on the GPU: output[n, :] = the mean of
// input[n, s, :] over s = first .. tokens-1 for input [batch, tokens, dim]
// (DINOv2's classifier and timm's average pooling read the patch tokens
// past the class and register tokens). Summed in fp64, rounded once.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct MeanTokensParams {
  DType dtype = DType::f32;  // of input and output
  int64_t batch = 0, tokens = 0, dim = 0;
  int64_t first = 0;            // 0 .. tokens-1
  const void* input = nullptr;  // [batch, tokens, dim]
  void* output = nullptr;       // [batch, dim]; must not overlap the input
  void* stream = nullptr;       // cudaStream_t
};

bool can_implement(const MeanTokensParams& p, std::string* why);

// Enqueues the means on p.stream; throws visionrt::Error: unsupported when
// can_implement refuses p, device_error when the launch fails.
void mean_tokens(const MeanTokensParams& p);

}  // namespace visionrt::kernels
