// ViT's token sequence on the GPU: the class token in front of the patch
// tokens, the position embedding added to both,
//   output[n, 0, :]     = cls[:] + pos[0, :]
//   output[n, 1 + t, :] = input[n, t, :] + pos[1 + t, :]
// each sum in fp32 and rounded once to the data type.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct EmbedTokensParams {
  DType dtype = DType::f32;          // of every tensor below
  int64_t batch = 0, tokens = 0, dim = 0;  // N, T (patch tokens per image), D
  const void* input = nullptr;             // [batch, tokens, dim]
  const void* cls = nullptr;               // [dim]
  const void* pos = nullptr;               // [tokens + 1, dim]
  void* output = nullptr;                  // [batch, tokens + 1, dim]; must not overlap the inputs
  void* stream = nullptr;                  // cudaStream_t
};

bool can_implement(const EmbedTokensParams& p, std::string* why);

// Enqueues the sums on p.stream; throws visionrt::Error: unsupported when
// can_implement refuses p, device_error when the launch fails.
void embed_tokens(const EmbedTokensParams& p);

}  // namespace visionrt::kernels
