// ViT's token sequence on the GPU: the prefix rows (class, distillation and
// register tokens, their positions already added) in front of the patch
// tokens, the position embedding added to the patch tokens,
//   output[n, p, :]          = prefix[p, :]                for p < prefix_rows
//   output[n, prefix_rows + t, :] = input[n, t, :] + pos[t, :]
// each sum in fp32 and rounded once to the data type.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct EmbedTokensParams {
  DType dtype = DType::f32;          // of every tensor below
  int64_t batch = 0, tokens = 0, dim = 0;  // N, T (patch tokens per image), D
  int64_t prefix_rows = 0;                 // P
  const void* input = nullptr;             // [batch, tokens, dim]
  const void* prefix = nullptr;            // [prefix_rows, dim]
  const void* pos = nullptr;               // [tokens, dim]
  void* output = nullptr;                  // [batch, prefix_rows + tokens, dim]; must not overlap the inputs
  void* stream = nullptr;                  // cudaStream_t
};

bool can_implement(const EmbedTokensParams& p, std::string* why);

// Enqueues the sums on p.stream; throws visionrt::Error: unsupported when
// can_implement refuses p, device_error when the launch fails.
void embed_tokens(const EmbedTokensParams& p);

}  // namespace visionrt::kernels
