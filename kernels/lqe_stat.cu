// LQE statistics: one warp per box side. Its probabilities go to the warp's
// slice of shared memory; each lane then ranks its own probabilities
// against all of the side's (how many beat it: greater, NaN above all, or
// equal at a lower index — a strict total order, so the ranks are a
// permutation whatever the values) and writes those ranked below count to
// that place; the warp sums them for the mean. No sort, no atomics,
// deterministic; O((bins + 1)^2 / 32) comparisons a lane, a few dozen for
// D-FINE's 32 bins.
#include <cmath>

#include "kernels/cuda_common.cuh"
#include "kernels/lqe_stat.hpp"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxBins = 1024;  // kWarps * 1025 floats: 32.8 KB of shared memory
constexpr int64_t kMaxBytes = int64_t(1) << 40;  // keeps byte counts from overflowing

__device__ __forceinline__ float rank_key(float p) { return isnan(p) ? INFINITY : p; }

template <typename T>
__global__ void __launch_bounds__(kThreads)
    lqe_stat_kernel(const T* __restrict__ corners, T* __restrict__ out, int64_t sides, int n, int count) {
  extern __shared__ float probs[];  // kWarps slices of n
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  float* p = probs + warp * n;
  for (int64_t s = (int64_t(blockIdx.x) * kThreads + threadIdx.x) / 32; s < sides;
       s += int64_t(gridDim.x) * kWarps) {
    const T* x = corners + s * n;
    float m = -INFINITY;
    for (int i = lane; i < n; i += 32) {
      p[i] = to_float(x[i]);
      m = fmaxf(m, p[i]);
    }
    m = warp_max(m);
    float sum = 0.f;
    for (int i = lane; i < n; i += 32) sum += p[i] = expf(p[i] - m);
    const float inv = 1.f / warp_sum(sum);
    for (int i = lane; i < n; i += 32) p[i] *= inv;
    __syncwarp();  // every lane reads every probability
    T* o = out + s * (count + 1);
    float top = 0.f;
    for (int i = lane; i < n; i += 32) {
      const float mine = rank_key(p[i]);
      int rank = 0;
      for (int j = 0; j < n; ++j) {
        const float v = rank_key(p[j]);
        rank += v > mine || (v == mine && j < i);
      }
      if (rank < count) {
        o[rank] = from_float<T>(p[i]);
        top += p[i];
      }
    }
    top = warp_sum(top);
    if (lane == 0) o[count] = from_float<T>(top / float(count));
    __syncwarp();  // the probabilities are read before the next side's overwrite them
  }
}

}  // namespace

bool can_implement(const LqeStatParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.rows >= 0, "bad row count ", p.rows);
  req.require(p.bins >= 2 && p.bins <= kMaxBins && p.bins % 2 == 0, "bins ", p.bins, " must be even, 2 to ",
              kMaxBins);
  req.require(p.count >= 1 && p.count <= p.bins + 1, "count ", p.count, " outside 1..", p.bins + 1);
  req.require(p.corners && p.output, "null input or output");
  if (!req.ok) return false;
  const int64_t esize = int64_t(dtype_size(p.dtype)), row_elems = 4 * (int64_t(p.bins) + 1);
  req.require(p.rows <= kMaxBytes / esize / row_elems, p.rows, " rows are too many");
  if (!req.ok) return false;
  req.require(!overlaps(p.output, uint64_t(p.rows * 4 * (int64_t(p.count) + 1) * esize), p.corners,
                        uint64_t(p.rows * row_elems * esize)),
              "output overlaps the input");
  return req.ok;
}

void lqe_stat(const LqeStatParams& p) {
  require_implementable(p, "lqe_stat");
  if (p.rows == 0) return;
  const int n = p.bins + 1;
  const int64_t sides = p.rows * 4;
  const size_t smem = size_t(kWarps) * size_t(n) * sizeof(float);
  const cudaStream_t stream = as_stream(p.stream);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    lqe_stat_kernel<T><<<grid_stride_blocks(sides * 32, kThreads), kThreads, smem, stream>>>(
        static_cast<const T*>(p.corners), static_cast<T*>(p.output), sides, n, p.count);
  });
  check_launch("lqe_stat kernel launch");
}

}  // namespace visionrt::kernels
