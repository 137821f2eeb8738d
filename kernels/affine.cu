// Affine and clamp: a grid-stride loop over 16-byte vectors of elements when
// the count and both pointers allow it, single elements otherwise. Each
// thread reads its own elements before writing them, so it runs in place.
#include "kernels/affine.hpp"
#include "kernels/cuda_common.cuh"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBytes = int64_t(1) << 40;  // keeps byte counts from overflowing

struct AffineArgs {
  float scale, shift, lo, hi;
};

// The CPU's comparisons: false for NaN, which passes through both.
__device__ __forceinline__ float affine_of(float x, const AffineArgs& a) {
  const float v = x * a.scale + a.shift;
  return v < a.lo ? a.lo : (v > a.hi ? a.hi : v);
}

template <typename T, int E>
__global__ void __launch_bounds__(kThreads) affine_kernel(const T* in, T* out, int64_t items, const AffineArgs a) {
  for (int64_t item = blockIdx.x * int64_t(kThreads) + threadIdx.x; item < items;
       item += int64_t(gridDim.x) * kThreads) {
    float v[E];
    load_items<T, E>(in + item * E, v);
#pragma unroll
    for (int j = 0; j < E; ++j) v[j] = affine_of(v[j], a);
    store_items<T, E>(out + item * E, v);
  }
}

}  // namespace

bool can_implement(const AffineParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.count >= 0, "bad count ", p.count);
  // Also false when either bound is NaN.
  req.require(p.lo <= p.hi, "lo ", p.lo, " must not exceed hi ", p.hi);
  req.require(p.input && p.output, "null input or output");
  if (!req.ok) return false;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  req.require(p.count <= kMaxBytes / esize, p.count, " elements are too many");
  if (!req.ok) return false;
  const uint64_t bytes = uint64_t(p.count * esize);
  req.require(p.output == p.input || !overlaps(p.output, bytes, p.input, bytes), "output partly overlaps the input");
  return req.ok;
}

void affine(const AffineParams& p) {
  require_implementable(p, "affine");
  if (p.count == 0) return;
  const int64_t vec = 16 / int64_t(dtype_size(p.dtype));
  const bool vectorised = p.count % vec == 0 && is_aligned16(p.input) && is_aligned16(p.output);
  const AffineArgs a{p.scale, p.shift, p.lo, p.hi};
  const cudaStream_t stream = as_stream(p.stream);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    const int64_t items = vectorised ? p.count / vec : p.count;
    const unsigned blocks = grid_stride_blocks(items, kThreads);
    const T* in = static_cast<const T*>(p.input);
    T* out = static_cast<T*>(p.output);
    if (vectorised) {
      affine_kernel<T, kVec16<T>><<<blocks, kThreads, 0, stream>>>(in, out, items, a);
    } else {
      affine_kernel<T, 1><<<blocks, kThreads, 0, stream>>>(in, out, items, a);
    }
  });
  check_launch("affine kernel launch");
}

}  // namespace visionrt::kernels
