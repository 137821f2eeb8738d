// Slice of the last dimension: a grid-stride loop over the output's
// elements, in 16-byte vectors when the row length, offset, width and both
// pointers allow it, single elements otherwise; neighbouring threads copy
// neighbouring elements of a row (coalesced on both sides).
#include "kernels/cuda_common.cuh"
#include "kernels/slice_last.hpp"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBytes = int64_t(1) << 40;  // keeps byte counts from overflowing

// V: the type one item moves (T, or uint4 for a 16-byte vector); sizes in
// items of V.
template <typename V>
__global__ void __launch_bounds__(kThreads)
    slice_last_kernel(const V* __restrict__ in, V* __restrict__ out, int64_t cols, int64_t offset, int64_t width,
                      int64_t items) {
  for (int64_t item = blockIdx.x * int64_t(kThreads) + threadIdx.x; item < items;
       item += int64_t(gridDim.x) * kThreads) {
    const int64_t r = item / width, j = item % width;
    out[item] = in[r * cols + offset + j];
  }
}

}  // namespace

bool can_implement(const SliceLastParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.rows >= 0 && p.cols >= 1, "bad shape [", p.rows, ", ", p.cols, "]");
  req.require(p.offset >= 0 && p.width >= 1 && p.offset <= p.cols - p.width, "columns ", p.offset, " to ",
              p.offset + p.width, " outside a row of ", p.cols);
  req.require(p.input && p.output, "null input or output");
  if (!req.ok) return false;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  req.require(p.cols <= kMaxBytes / esize && p.rows <= kMaxBytes / esize / p.cols, "a tensor of ", p.rows, " x ",
              p.cols, " elements is too large");
  if (!req.ok) return false;
  req.require(!overlaps(p.output, uint64_t(p.rows * p.width * esize), p.input, uint64_t(p.rows * p.cols * esize)),
              "output overlaps the input");
  return req.ok;
}

void slice_last(const SliceLastParams& p) {
  require_implementable(p, "slice_last");
  if (p.rows == 0) return;
  const int64_t vec = 16 / int64_t(dtype_size(p.dtype));
  const bool vectorised = p.cols % vec == 0 && p.offset % vec == 0 && p.width % vec == 0 &&
                          is_aligned16(p.input) && is_aligned16(p.output);
  const cudaStream_t stream = as_stream(p.stream);
  if (vectorised) {
    const int64_t items = p.rows * (p.width / vec);
    slice_last_kernel<uint4><<<grid_stride_blocks(items, kThreads), kThreads, 0, stream>>>(
        static_cast<const uint4*>(p.input), static_cast<uint4*>(p.output), p.cols / vec, p.offset / vec,
        p.width / vec, items);
  } else {
    dispatch_dtype(p.dtype, [&](auto tag) {
      using T = decltype(tag);
      const int64_t items = p.rows * p.width;
      slice_last_kernel<T><<<grid_stride_blocks(items, kThreads), kThreads, 0, stream>>>(
          static_cast<const T*>(p.input), static_cast<T*>(p.output), p.cols, p.offset, p.width, items);
    });
  }
  check_launch("slice_last kernel launch");
}

}  // namespace visionrt::kernels
