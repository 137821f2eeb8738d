// One token of every sequence on the GPU: output[n, :] = input[n, index, :]
// for input [batch, tokens, dim] (ViT's class token before the head).
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct SelectTokenParams {
  DType dtype = DType::f32;  // of input and output
  int64_t batch = 0, tokens = 0, dim = 0;
  int64_t index = 0;            // 0 .. tokens-1
  const void* input = nullptr;  // [batch, tokens, dim]
  void* output = nullptr;       // [batch, dim]; must not overlap the input
  void* stream = nullptr;       // cudaStream_t
};

bool can_implement(const SelectTokenParams& p, std::string* why);

// Enqueues the copy on p.stream; throws visionrt::Error: unsupported when
// can_implement refuses p, device_error when it cannot be enqueued.
void select_token(const SelectTokenParams& p);

}  // namespace visionrt::kernels
