// Element-wise product: a grid-stride loop over 16-byte vectors of elements
// when the count and the three pointers allow it, single elements
// otherwise. Each thread reads its elements before writing them, so the
// output may be either input.
#include "kernels/cuda_common.cuh"
#include "kernels/mul.hpp"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBytes = int64_t(1) << 40;  // keeps byte counts from overflowing

template <typename T, int E>
__global__ void __launch_bounds__(kThreads) mul_kernel(const T* a, const T* b, T* out, int64_t items) {
  for (int64_t item = blockIdx.x * int64_t(kThreads) + threadIdx.x; item < items;
       item += int64_t(gridDim.x) * kThreads) {
    float x[E], y[E];
    load_items<T, E>(a + item * E, x);
    load_items<T, E>(b + item * E, y);
#pragma unroll
    for (int j = 0; j < E; ++j) x[j] *= y[j];
    store_items<T, E>(out + item * E, x);
  }
}

}  // namespace

bool can_implement(const MulParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.count >= 0, "bad count ", p.count);
  req.require(p.a && p.b && p.output, "null input or output");
  if (!req.ok) return false;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  req.require(p.count <= kMaxBytes / esize, p.count, " elements are too many");
  if (!req.ok) return false;
  const uint64_t bytes = uint64_t(p.count * esize);
  req.require((p.output == p.a || !overlaps(p.output, bytes, p.a, bytes)) &&
                  (p.output == p.b || !overlaps(p.output, bytes, p.b, bytes)),
              "output partly overlaps an input");
  return req.ok;
}

void mul(const MulParams& p) {
  require_implementable(p, "mul");
  if (p.count == 0) return;
  const int64_t vec = 16 / int64_t(dtype_size(p.dtype));
  const bool vectorised = p.count % vec == 0 && is_aligned16(p.a) && is_aligned16(p.b) && is_aligned16(p.output);
  const cudaStream_t stream = as_stream(p.stream);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    const int64_t items = vectorised ? p.count / vec : p.count;
    const unsigned blocks = grid_stride_blocks(items, kThreads);
    const T *a = static_cast<const T*>(p.a), *b = static_cast<const T*>(p.b);
    T* out = static_cast<T*>(p.output);
    if (vectorised) {
      mul_kernel<T, kVec16<T>><<<blocks, kThreads, 0, stream>>>(a, b, out, items);
    } else {
      mul_kernel<T, 1><<<blocks, kThreads, 0, stream>>>(a, b, out, items);
    }
  });
  check_launch("mul kernel launch");
}

}  // namespace visionrt::kernels
