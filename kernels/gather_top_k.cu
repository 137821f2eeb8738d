// Top-k gather. Row maxima: one warp per (image, row), its lanes over the
// score columns. Ranks: a CTA of 8 warps owns 32 rows of one image (4 a
// warp); the image's maxima stream through shared memory a tile at a time,
// each lane comparing its warp's 4 rows against its share of the tile; the
// lanes' counts are summed, and the warp copies each of its rows that ranks
// below count, lanes over the row's elements (coalesced).
#include <cmath>

#include "kernels/cuda_common.cuh"
#include "kernels/gather_top_k.hpp"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kRowsPerWarp = 4;
constexpr int kRowsPerBlock = kWarps * kRowsPerWarp;
constexpr int64_t kMaxRows = int64_t(1) << 31;   // ranks and counts fit an int
constexpr int64_t kMaxBytes = int64_t(1) << 40;  // keeps byte counts from overflowing

__device__ __forceinline__ int warp_sum_int(int v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// best[r] = max over row r's scores, NaN counted as +inf (as the CPU does).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    row_max_kernel(const T* __restrict__ scores, float* __restrict__ best, int64_t rows, int64_t cols) {
  const int lane = threadIdx.x % 32;
  for (int64_t r = (int64_t(blockIdx.x) * kThreads + threadIdx.x) / 32; r < rows;
       r += int64_t(gridDim.x) * kWarps) {
    float m = -INFINITY;
    for (int64_t c = lane; c < cols; c += 32) {
      const float v = to_float(scores[r * cols + c]);
      m = fmaxf(m, isnan(v) ? INFINITY : v);
    }
    m = warp_max(m);
    if (lane == 0) best[r] = m;
  }
}

// Block b covers rows [tile * 32, tile * 32 + 32) of image b / tiles. Row j
// beats row i when best[j] > best[i], or they are equal and j < i.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    rank_gather_kernel(const T* __restrict__ x, const float* __restrict__ best, T* __restrict__ out, int64_t rows,
                       int64_t width, int64_t count, int64_t tiles) {
  __shared__ float tile[kThreads];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t n = blockIdx.x / tiles;
  const int64_t first = (blockIdx.x % tiles) * kRowsPerBlock + int64_t(warp) * kRowsPerWarp;
  const float* b = best + n * rows;
  float mine[kRowsPerWarp];
  int beaten_by[kRowsPerWarp];
#pragma unroll
  for (int k = 0; k < kRowsPerWarp; ++k) {
    mine[k] = first + k < rows ? b[first + k] : 0.f;
    beaten_by[k] = 0;
  }
  for (int64_t j0 = 0; j0 < rows; j0 += kThreads) {
    __syncthreads();  // the previous tile is read
    if (j0 + threadIdx.x < rows) tile[threadIdx.x] = b[j0 + threadIdx.x];
    __syncthreads();
    const int in_tile = int(min(int64_t(kThreads), rows - j0));
    for (int t = lane; t < in_tile; t += 32) {
      const float v = tile[t];
      const int64_t j = j0 + t;
#pragma unroll
      for (int k = 0; k < kRowsPerWarp; ++k) beaten_by[k] += v > mine[k] || (v == mine[k] && j < first + k);
    }
  }
#pragma unroll
  for (int k = 0; k < kRowsPerWarp; ++k) {
    const int rank = warp_sum_int(beaten_by[k]);
    if (first + k >= rows || rank >= count) continue;
    const T* src = x + (n * rows + first + k) * width;
    T* dst = out + (n * count + rank) * width;
    for (int64_t e = lane; e < width; e += 32) dst[e] = src[e];
  }
}

}  // namespace

size_t gather_top_k_workspace_bytes(const GatherTopKParams& p) {
  return p.batch >= 0 && p.rows >= 0 ? size_t(p.batch * p.rows) * sizeof(float) : 0;
}

bool can_implement(const GatherTopKParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.batch >= 0 && p.rows >= 1 && p.width >= 1 && p.score_cols >= 1, "bad shape: batch ", p.batch,
              ", rows ", p.rows, ", width ", p.width, ", score columns ", p.score_cols);
  req.require(p.count >= 1 && p.count <= p.rows, "count ", p.count, " outside 1..", p.rows);
  req.require(p.input && p.scores && p.output, "null input, scores or output");
  if (!req.ok) return false;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  const int64_t row_elems_limit = kMaxBytes / esize;
  req.require(p.rows <= kMaxRows / std::max<int64_t>(p.batch, 1), p.batch, " x ", p.rows, " rows are too many");
  req.require(p.width <= row_elems_limit && p.score_cols <= row_elems_limit &&
                  p.batch * p.rows <= row_elems_limit / std::max(p.width, p.score_cols),
              "tensors of ", p.batch, " x ", p.rows, " x ", std::max(p.width, p.score_cols), " elements are too large");
  if (!req.ok) return false;
  require_workspace(req, p.workspace, p.workspace_bytes, gather_top_k_workspace_bytes(p), 16);
  if (!req.ok) return false;
  const uint64_t out_bytes = uint64_t(p.batch * p.count * p.width * esize);
  req.require(!overlaps(p.output, out_bytes, p.input, uint64_t(p.batch * p.rows * p.width * esize)) &&
                  !overlaps(p.output, out_bytes, p.scores, uint64_t(p.batch * p.rows * p.score_cols * esize)) &&
                  !overlaps(p.output, out_bytes, p.workspace, gather_top_k_workspace_bytes(p)),
              "output overlaps an input or the workspace");
  req.require(!overlaps(p.workspace, gather_top_k_workspace_bytes(p), p.scores,
                        uint64_t(p.batch * p.rows * p.score_cols * esize)) &&
                  !overlaps(p.workspace, gather_top_k_workspace_bytes(p), p.input,
                            uint64_t(p.batch * p.rows * p.width * esize)),
              "workspace overlaps an input");
  return req.ok;
}

void gather_top_k(const GatherTopKParams& p) {
  require_implementable(p, "gather_top_k");
  const int64_t all_rows = p.batch * p.rows;
  if (all_rows == 0) return;
  const int64_t tiles = (p.rows + kRowsPerBlock - 1) / kRowsPerBlock;
  float* best = static_cast<float*>(p.workspace);
  const cudaStream_t stream = as_stream(p.stream);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    row_max_kernel<T><<<grid_stride_blocks(all_rows * 32, kThreads), kThreads, 0, stream>>>(
        static_cast<const T*>(p.scores), best, all_rows, p.score_cols);
    check_launch("gather_top_k row maxima launch");
    rank_gather_kernel<T><<<unsigned(p.batch * tiles), kThreads, 0, stream>>>(
        static_cast<const T*>(p.input), best, static_cast<T*>(p.output), p.rows, p.width, p.count, tiles);
  });
  check_launch("gather_top_k rank and gather launch");
}

}  // namespace visionrt::kernels
