// Inverse sigmoid: a grid-stride loop over 16-byte vectors of elements when
// the count and both pointers allow it, single elements otherwise. Each
// thread reads its own elements before writing them, so it runs in place.
#include "kernels/cuda_common.cuh"
#include "kernels/inverse_sigmoid.hpp"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBytes = int64_t(1) << 40;  // keeps byte counts from overflowing

// The CPU's std::min(std::max(x, 0), 1), then std::max(side, 1e-5) on each
// side: the same comparisons, so that NaN passes through each of them.
__device__ __forceinline__ float inverse_sigmoid_of(float x) {
  const float v = x > 1.f ? 1.f : (x < 0.f ? 0.f : x);
  const float num = v < 1e-5f ? 1e-5f : v;
  const float rest = 1.f - v;
  const float den = rest < 1e-5f ? 1e-5f : rest;
  return logf(num / den);
}

template <typename T, int E>
__global__ void __launch_bounds__(kThreads) inverse_sigmoid_kernel(const T* in, T* out, int64_t items) {
  for (int64_t item = blockIdx.x * int64_t(kThreads) + threadIdx.x; item < items;
       item += int64_t(gridDim.x) * kThreads) {
    float v[E];
    load_items<T, E>(in + item * E, v);
#pragma unroll
    for (int j = 0; j < E; ++j) v[j] = inverse_sigmoid_of(v[j]);
    store_items<T, E>(out + item * E, v);
  }
}

}  // namespace

bool can_implement(const InverseSigmoidParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.count >= 0, "bad count ", p.count);
  req.require(p.input && p.output, "null input or output");
  if (!req.ok) return false;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  req.require(p.count <= kMaxBytes / esize, p.count, " elements are too many");
  if (!req.ok) return false;
  const uint64_t bytes = uint64_t(p.count * esize);
  req.require(p.output == p.input || !overlaps(p.output, bytes, p.input, bytes), "output partly overlaps the input");
  return req.ok;
}

void inverse_sigmoid(const InverseSigmoidParams& p) {
  require_implementable(p, "inverse_sigmoid");
  if (p.count == 0) return;
  const int64_t vec = 16 / int64_t(dtype_size(p.dtype));
  const bool vectorised = p.count % vec == 0 && is_aligned16(p.input) && is_aligned16(p.output);
  const cudaStream_t stream = as_stream(p.stream);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    const int64_t items = vectorised ? p.count / vec : p.count;
    const unsigned blocks = grid_stride_blocks(items, kThreads);
    const T* in = static_cast<const T*>(p.input);
    T* out = static_cast<T*>(p.output);
    if (vectorised) {
      inverse_sigmoid_kernel<T, kVec16<T>><<<blocks, kThreads, 0, stream>>>(in, out, items);
    } else {
      inverse_sigmoid_kernel<T, 1><<<blocks, kThreads, 0, stream>>>(in, out, items);
    }
  });
  check_launch("inverse_sigmoid kernel launch");
}

}  // namespace visionrt::kernels
