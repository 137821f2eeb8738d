// Anchor masking: a grid-stride loop over rows times column groups (a
// 16-byte vector when the width and the pointers allow it, one element
// otherwise), so neighbouring threads move neighbouring columns of a row;
// each thread reads its row's anchor (a few cached bytes) to decide. Each
// thread reads its own elements before writing them, so x may be the output.
#include <cfloat>

#include "kernels/cuda_common.cuh"
#include "kernels/mask_invalid_anchors.hpp"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBytes = int64_t(1) << 40;  // keeps byte counts from overflowing

// The dtype's largest finite value, as a float (exact in fp32).
template <typename T>
constexpr float kLargest = FLT_MAX;
template <>
constexpr float kLargest<__half> = 65504.f;
template <>
constexpr float kLargest<__nv_bfloat16> = 0x1.fep127f;

// E columns per group: 1, or one 16-byte vector (dim a multiple of E).
template <typename T, int E>
__global__ void __launch_bounds__(kThreads)
    mask_invalid_anchors_kernel(const T* in, const T* __restrict__ anchors, T* out, int64_t groups, int64_t items) {
  for (int64_t item = blockIdx.x * int64_t(kThreads) + threadIdx.x; item < items;
       item += int64_t(gridDim.x) * kThreads) {
    const T* a = anchors + (item / groups) * 4;
    bool valid = true;
    // `<` is false for NaN: a NaN coordinate is invalid, as on the CPU.
#pragma unroll
    for (int k = 0; k < 4; ++k) valid = valid && to_float(a[k]) < kLargest<T>;
    float v[E];
    if (valid) {
      load_items<T, E>(in + item * E, v);
    } else {
#pragma unroll
      for (int j = 0; j < E; ++j) v[j] = 0.f;
    }
    store_items<T, E>(out + item * E, v);
  }
}

}  // namespace

bool can_implement(const MaskInvalidAnchorsParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.rows >= 0 && p.dim >= 1, "bad shape [", p.rows, ", ", p.dim, "]");
  req.require(p.input && p.anchors && p.output, "null input, anchors or output");
  if (!req.ok) return false;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  req.require(p.dim <= kMaxBytes / esize / 4 && p.rows <= kMaxBytes / esize / (p.dim + 4), "tensors of ", p.rows,
              " x ", p.dim, " elements are too large");
  if (!req.ok) return false;
  const uint64_t bytes = uint64_t(p.rows * p.dim * esize), anchor_bytes = uint64_t(p.rows * 4 * esize);
  req.require(p.output == p.input || !overlaps(p.output, bytes, p.input, bytes), "output partly overlaps the input");
  req.require(!overlaps(p.output, bytes, p.anchors, anchor_bytes), "output overlaps the anchors");
  return req.ok;
}

void mask_invalid_anchors(const MaskInvalidAnchorsParams& p) {
  require_implementable(p, "mask_invalid_anchors");
  if (p.rows == 0) return;
  const int64_t vec = 16 / int64_t(dtype_size(p.dtype));
  const bool vectorised = p.dim % vec == 0 && is_aligned16(p.input) && is_aligned16(p.output);
  const cudaStream_t stream = as_stream(p.stream);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    const int64_t groups = vectorised ? p.dim / vec : p.dim, items = p.rows * groups;
    const unsigned blocks = grid_stride_blocks(items, kThreads);
    const T* in = static_cast<const T*>(p.input);
    const T* anchors = static_cast<const T*>(p.anchors);
    T* out = static_cast<T*>(p.output);
    if (vectorised) {
      mask_invalid_anchors_kernel<T, kVec16<T>><<<blocks, kThreads, 0, stream>>>(in, anchors, out, groups, items);
    } else {
      mask_invalid_anchors_kernel<T, 1><<<blocks, kThreads, 0, stream>>>(in, anchors, out, groups, items);
    }
  });
  check_launch("mask_invalid_anchors kernel launch");
}

}  // namespace visionrt::kernels
