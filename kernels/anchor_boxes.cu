// Anchors: a grid-stride loop over (image, cell), each thread finding its
// cell's level among at most five, then writing the cell's four values.
// The validity test is decided in IEEE fp32 exactly as the CPU decides it
// (no fast-math division, nothing to contract), so both mark the same cells.
#include <cfloat>

#include "kernels/anchor_boxes.hpp"
#include "kernels/cuda_common.cuh"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxCells = int64_t(1) << 36;  // keeps byte counts from overflowing

struct Grid {
  int h[kMaxAnchorLevels], w[kMaxAnchorLevels];
  int64_t start[kMaxAnchorLevels + 1];  // first cell of each level, then the cell count
  int count;
};

// The dtype's largest finite value: an invalid anchor's mark.
template <typename T>
__device__ __forceinline__ T largest_finite();
template <>
__device__ __forceinline__ float largest_finite<float>() { return FLT_MAX; }
template <>
__device__ __forceinline__ __half largest_finite<__half>() { return __ushort_as_half(0x7bff); }  // 65504
template <>
__device__ __forceinline__ __nv_bfloat16 largest_finite<__nv_bfloat16>() { return __ushort_as_bfloat16(0x7f7f); }

template <typename T>
__global__ void __launch_bounds__(kThreads) anchor_boxes_kernel(T* __restrict__ out, int64_t items, const Grid g) {
  const int64_t cells = g.start[g.count];
  for (int64_t item = blockIdx.x * int64_t(kThreads) + threadIdx.x; item < items;
       item += int64_t(gridDim.x) * kThreads) {
    const int64_t cell = item % cells;
    int l = 0;
    while (l + 1 < g.count && cell >= g.start[l + 1]) ++l;
    const int64_t i = cell - g.start[l];
    const int y = int(i / g.w[l]), x = int(i % g.w[l]);
    const float side = 0.05f * ldexpf(1.f, l);
    const float box[4] = {(float(x) + 0.5f) / float(g.w[l]), (float(y) + 0.5f) / float(g.h[l]), side, side};
    bool valid = true;
#pragma unroll
    for (int k = 0; k < 4; ++k) valid = valid && box[k] > 0.01f && box[k] < 0.99f;
    T* o = out + item * 4;
#pragma unroll
    for (int k = 0; k < 4; ++k) o[k] = valid ? from_float<T>(logf(box[k] / (1.f - box[k]))) : largest_finite<T>();
  }
}

}  // namespace

bool can_implement(const AnchorBoxesParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.batch >= 0, "bad batch ", p.batch);
  req.require(p.levels >= 1 && p.levels <= kMaxAnchorLevels, "levels ", p.levels, " outside 1..", kMaxAnchorLevels);
  req.require(p.output != nullptr, "null output");
  if (!req.ok) return false;
  int64_t cells = 0;
  for (int l = 0; l < p.levels; ++l) {
    req.require(p.level_h[l] >= 1 && p.level_w[l] >= 1 && int64_t(p.level_h[l]) * p.level_w[l] <= kMaxCells,
                "level ", l, ": ", p.level_h[l], "x", p.level_w[l]);
    cells += int64_t(p.level_h[l]) * p.level_w[l];
  }
  if (!req.ok) return false;
  req.require(p.batch <= kMaxCells / cells, "an output of ", p.batch, " x ", cells, " anchors is too large");
  return req.ok;
}

void anchor_boxes(const AnchorBoxesParams& p) {
  require_implementable(p, "anchor_boxes");
  Grid g{};
  g.count = p.levels;
  for (int l = 0; l < p.levels; ++l) {
    g.h[l] = p.level_h[l];
    g.w[l] = p.level_w[l];
    g.start[l + 1] = g.start[l] + int64_t(p.level_h[l]) * p.level_w[l];
  }
  const int64_t items = p.batch * g.start[p.levels];
  if (items == 0) return;
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    anchor_boxes_kernel<T><<<grid_stride_blocks(items, kThreads), kThreads, 0, as_stream(p.stream)>>>(
        static_cast<T*>(p.output), items, g);
  });
  check_launch("anchor_boxes kernel launch");
}

}  // namespace visionrt::kernels
