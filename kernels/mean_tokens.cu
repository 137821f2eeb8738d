// Token means: one thread per output element, consecutive threads on
// consecutive channels, so each step over the tokens reads one coalesced row.
// The sums are a few hundred additions per element; fp64 keeps them exact
// to float32's rounding at a cost no profile of a whole model shows.
#include <algorithm>

#include "kernels/cuda_common.cuh"
#include "kernels/mean_tokens.hpp"

namespace visionrt::kernels {
namespace {

struct MeanTokensArgs {
  const void* input;
  void* output;
  int64_t tokens, dim, first, count;  // count: output elements
};

constexpr int kThreads = 256;
constexpr int64_t kMaxElements = int64_t(1) << 40;  // keeps byte counts from overflowing

template <typename T>
__global__ void __launch_bounds__(kThreads) mean_tokens_kernel(const MeanTokensArgs a) {
  const T* in = static_cast<const T*>(a.input);
  T* out = static_cast<T*>(a.output);
  const double scale = 1.0 / double(a.tokens - a.first);
  for (int64_t e = blockIdx.x * int64_t(kThreads) + threadIdx.x; e < a.count;
       e += int64_t(gridDim.x) * kThreads) {
    const int64_t n = e / a.dim, d = e % a.dim;
    const T* column = in + n * a.tokens * a.dim + d;
    double sum = 0.0;
    for (int64_t s = a.first; s < a.tokens; ++s) sum += double(to_float(column[s * a.dim]));
    out[e] = from_float<T>(float(sum * scale));
  }
}

}  // namespace

bool can_implement(const MeanTokensParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.batch >= 0 && p.tokens >= 1 && p.dim >= 1, "bad shape [", p.batch, ", ", p.tokens, ", ",
              p.dim, "]");
  req.require(p.first >= 0 && p.first < p.tokens, "first token ", p.first, " outside 0..", p.tokens - 1);
  req.require(p.input && p.output, "null input or output");
  if (!req.ok) return false;
  req.require(p.tokens <= kMaxElements && p.dim <= kMaxElements / p.tokens / std::max<int64_t>(p.batch, 1),
              "input of ", p.batch, " x ", p.tokens, " x ", p.dim, " elements is too large");
  if (!req.ok) return false;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  req.require(!overlaps(p.output, p.batch * p.dim * esize, p.input, p.batch * p.tokens * p.dim * esize),
              "output overlaps the input");
  return req.ok;
}

void mean_tokens(const MeanTokensParams& p) {
  require_implementable(p, "mean_tokens");
  const MeanTokensArgs a{p.input, p.output, p.tokens, p.dim, p.first, p.batch * p.dim};
  if (a.count == 0) return;
  const cudaStream_t stream = as_stream(p.stream);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    mean_tokens_kernel<T><<<grid_stride_blocks(a.count, kThreads), kThreads, 0, stream>>>(a);
  });
  check_launch("mean_tokens kernel launch");
}

}  // namespace visionrt::kernels
