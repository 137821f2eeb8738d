// A run of tokens of every sequence on the GPU: output[n, t, :] =
// input[n, first + t, :] for t < count, input [batch, tokens, dim] (YOLOS's
// detection tokens at the end of its sequence).
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct SliceTokensParams {
  DType dtype = DType::f32;  // of input and output
  int64_t batch = 0, tokens = 0, dim = 0;
  int64_t first = 0, count = 0;  // first + count <= tokens
  const void* input = nullptr;    // [batch, tokens, dim]
  void* output = nullptr;         // [batch, count, dim]; must not overlap the input
  void* stream = nullptr;         // cudaStream_t
};

bool can_implement(const SliceTokensParams& p, std::string* why);

// Enqueues the copy on p.stream; throws visionrt::Error: unsupported when
// can_implement refuses p, device_error when it cannot be enqueued.
void slice_tokens(const SliceTokensParams& p);

}  // namespace visionrt::kernels
