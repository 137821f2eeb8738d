// D-FINE's distribution refinement: one warp per box, its lanes over each
// side's logits in turn (a max, then the exponentials' sum and their sum
// weighted by W, reduced across the warp); the weighting function is
// computed once per CTA into shared memory. Lanes 0..3 write the box.
#include <cmath>

#include "kernels/cuda_common.cuh"
#include "kernels/fdr_boxes.hpp"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxBins = 1024;
constexpr int64_t kMaxBytes = int64_t(1) << 40;  // keeps byte counts from overflowing

struct FdrArgs {
  const void* corners;
  const void* boxes;
  void* output;
  int64_t rows;
  int bins;
  float ub;    // |up| |reg_scale|
  float step;  // (ub + 1)^(2 / (bins - 2)); 1 for 2 bins
  float rs;    // |reg_scale|
};

template <typename T>
__global__ void __launch_bounds__(kThreads) fdr_boxes_kernel(const FdrArgs a) {
  extern __shared__ float w[];  // bins + 1 values of the weighting function
  const int n = a.bins + 1, half = a.bins / 2;
  for (int i = threadIdx.x; i < n; i += kThreads) {
    float v;
    if (i == 0 || i == a.bins) {
      v = i == 0 ? -(a.ub * 2.f) : a.ub * 2.f;
    } else if (i == half) {
      v = 0.f;
    } else {
      const float s = powf(a.step, float(i < half ? half - i : i - half));
      v = i < half ? -s + 1.f : s - 1.f;
    }
    w[i] = v;
  }
  __syncthreads();
  const T* corners = static_cast<const T*>(a.corners);
  const T* boxes = static_cast<const T*>(a.boxes);
  T* out = static_cast<T*>(a.output);
  const int lane = threadIdx.x % 32;
  for (int64_t r = (int64_t(blockIdx.x) * kThreads + threadIdx.x) / 32; r < a.rows;
       r += int64_t(gridDim.x) * kWarps) {
    float d[4];
#pragma unroll
    for (int s = 0; s < 4; ++s) {
      const T* x = corners + (r * 4 + s) * n;
      float m = -INFINITY;
      for (int i = lane; i < n; i += 32) m = fmaxf(m, to_float(x[i]));
      m = warp_max(m);
      float sum = 0.f, weighted = 0.f;
      for (int i = lane; i < n; i += 32) {
        const float e = expf(to_float(x[i]) - m);
        sum += e;
        weighted += e * w[i];
      }
      d[s] = warp_sum(weighted) / warp_sum(sum);
    }
    const T* b = boxes + r * 4;
    const float cx = to_float(b[0]), cy = to_float(b[1]);
    const float sx = to_float(b[2]) / a.rs, sy = to_float(b[3]) / a.rs;
    const float x1 = cx - (0.5f * a.rs + d[0]) * sx, y1 = cy - (0.5f * a.rs + d[1]) * sy;
    const float x2 = cx + (0.5f * a.rs + d[2]) * sx, y2 = cy + (0.5f * a.rs + d[3]) * sy;
    if (lane < 4) {
      const float v = lane == 0 ? (x1 + x2) * 0.5f : lane == 1 ? (y1 + y2) * 0.5f : lane == 2 ? x2 - x1 : y2 - y1;
      out[r * 4 + lane] = from_float<T>(v);
    }
  }
}

}  // namespace

bool can_implement(const FdrBoxesParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.rows >= 0, "bad row count ", p.rows);
  req.require(p.bins >= 2 && p.bins <= kMaxBins && p.bins % 2 == 0, "bins ", p.bins, " must be even, 2 to ",
              kMaxBins);
  req.require(std::isfinite(p.reg_scale) && p.reg_scale != 0.f && std::isfinite(p.up),
              "reg_scale must be finite and non-zero, up finite");
  req.require(p.corners && p.boxes && p.output, "null input or output");
  if (!req.ok) return false;
  const int64_t esize = int64_t(dtype_size(p.dtype)), row_elems = 4 * (int64_t(p.bins) + 1);
  req.require(p.rows <= kMaxBytes / esize / row_elems, p.rows, " rows are too many");
  if (!req.ok) return false;
  const uint64_t box_bytes = uint64_t(p.rows * 4 * esize);
  req.require(!overlaps(p.output, box_bytes, p.corners, uint64_t(p.rows * row_elems * esize)) &&
                  !overlaps(p.output, box_bytes, p.boxes, box_bytes),
              "output overlaps an input");
  return req.ok;
}

void fdr_boxes(const FdrBoxesParams& p) {
  require_implementable(p, "fdr_boxes");
  if (p.rows == 0) return;
  FdrArgs a{p.corners, p.boxes, p.output, p.rows, p.bins, 0.f, 1.f, std::abs(p.reg_scale)};
  a.ub = std::abs(p.up) * a.rs;
  // As torch: the exponent 2 / (bins - 2) in float, absent for 2 bins.
  if (p.bins > 2) a.step = std::pow(a.ub + 1.f, float(2.0 / double(p.bins - 2)));
  const size_t smem = size_t(p.bins + 1) * sizeof(float);
  const cudaStream_t stream = as_stream(p.stream);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    fdr_boxes_kernel<T><<<grid_stride_blocks(p.rows * 32, kThreads), kThreads, smem, stream>>>(a);
  });
  check_launch("fdr_boxes kernel launch");
}

}  // namespace visionrt::kernels
