// Prefix rows and position embedding: a grid-stride loop over the output,
// 16 bytes per step when the width and every pointer allow it (a vector then
// never straddles two rows), one element per step otherwise.
#include <algorithm>

#include "kernels/cuda_common.cuh"
#include "kernels/embed_tokens.hpp"

namespace visionrt::kernels {
namespace {

struct EmbedTokensArgs {
  const void* input;
  const void* prefix;
  const void* pos;
  void* output;
  int64_t tokens, dim, prefix_rows;
  int64_t items;  // elements, or 16-byte vectors in the vector kernel
};

constexpr int kThreads = 256;
constexpr int64_t kMaxElements = int64_t(1) << 40;



// E elements per step: 1, or a 16-byte vector (dim a multiple of E).
template <typename T, int E>
__global__ void __launch_bounds__(kThreads) embed_tokens_kernel(const EmbedTokensArgs a) {
  const T* in = static_cast<const T*>(a.input);
  const T* prefix = static_cast<const T*>(a.prefix);
  const T* pos = static_cast<const T*>(a.pos);
  T* out = static_cast<T*>(a.output);
  const int64_t rows_per_image = a.prefix_rows + a.tokens;
  for (int64_t item = blockIdx.x * int64_t(kThreads) + threadIdx.x; item < a.items;
       item += int64_t(gridDim.x) * kThreads) {
    const int64_t e = item * E;  // first output element
    const int64_t d = e % a.dim, row = e / a.dim;
    const int64_t n = row / rows_per_image, s = row % rows_per_image;
    float x[E];
    if (s < a.prefix_rows) {
      load_items<T, E>(prefix + s * a.dim + d, x);
    } else {
      float p[E];
      const int64_t t = s - a.prefix_rows;
      load_items<T, E>(in + (n * a.tokens + t) * a.dim + d, x);
      load_items<T, E>(pos + t * a.dim + d, p);
#pragma unroll
      for (int j = 0; j < E; ++j) x[j] += p[j];
    }
    store_items<T, E>(out + e, x);
  }
}



}  // namespace

bool can_implement(const EmbedTokensParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.batch >= 0 && p.tokens >= 0 && p.prefix_rows >= 0 && p.dim >= 1, "bad shape [", p.batch,
              ", ", p.prefix_rows, " + ", p.tokens, ", ", p.dim, "]");
  req.require(p.output && (p.prefix || p.prefix_rows == 0) && (p.pos || p.tokens == 0) &&
                  (p.input || p.tokens == 0 || p.batch == 0),
              "null input, prefix, pos or output");
  if (!req.ok) return false;
  // Far beyond any device's memory; keeps element and byte counts from overflowing.
  req.require(p.tokens <= kMaxElements && p.prefix_rows <= kMaxElements, "too many rows");
  if (!req.ok) return false;
  const int64_t rows = std::max<int64_t>(p.prefix_rows + p.tokens, 1);
  req.require(p.dim <= kMaxElements / rows / std::max<int64_t>(p.batch, 1), "output of ", p.batch, " x ",
              rows, " x ", p.dim, " elements is too large");
  if (!req.ok) return false;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  const int64_t out_bytes = p.batch * (p.prefix_rows + p.tokens) * p.dim * esize;
  req.require(!overlaps(p.output, out_bytes, p.input, p.batch * p.tokens * p.dim * esize) &&
                  !overlaps(p.output, out_bytes, p.prefix, p.prefix_rows * p.dim * esize) &&
                  !overlaps(p.output, out_bytes, p.pos, p.tokens * p.dim * esize),
              "output overlaps an input");
  return req.ok;
}

void embed_tokens(const EmbedTokensParams& p) {
  require_implementable(p, "embed_tokens");
  const int64_t count = p.batch * (p.prefix_rows + p.tokens) * p.dim;
  if (count == 0) return;
  const int64_t vec = 16 / int64_t(dtype_size(p.dtype));
  const bool vectorised = p.dim % vec == 0 && is_aligned16(p.input) && is_aligned16(p.prefix) &&
                          is_aligned16(p.pos) && is_aligned16(p.output);
  EmbedTokensArgs a{p.input, p.prefix, p.pos, p.output, p.tokens, p.dim, p.prefix_rows, count};
  const cudaStream_t stream = as_stream(p.stream);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (vectorised) {
      a.items = count / vec;
      embed_tokens_kernel<T, kVec16<T>><<<grid_stride_blocks(a.items, kThreads), kThreads, 0, stream>>>(a);
    } else {
      embed_tokens_kernel<T, 1><<<grid_stride_blocks(a.items, kThreads), kThreads, 0, stream>>>(a);
    }
  });
  check_launch("embed_tokens kernel launch");
}

}  // namespace visionrt::kernels
