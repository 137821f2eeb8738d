// LayerNorm kernels. The fast path gives each row to one warp and keeps it in
// registers (16-byte loads, VPL vectors per lane), so the row is read once and
// the statistics are exact two-pass ones: the mean first, then the sum of
// squared deviations from it. Other widths use one CTA per row.
#include <cmath>

#include "kernels/cuda_common.cuh"
#include "kernels/layer_norm.hpp"

namespace visionrt::kernels {
namespace {

struct LayerNormArgs {
  const void* input;
  const void* gamma;
  const void* beta;
  void* output;
  int64_t rows;
  int cols;
  float eps;
};

constexpr int kWarpsPerBlock = 4;
constexpr int kMaxVectorsPerLane = 16;

template <typename T, int VPL>
__global__ void __launch_bounds__(32 * kWarpsPerBlock) layer_norm_warp_kernel(const LayerNormArgs a) {
  constexpr int E = kVec16<T>;
  const int lane = threadIdx.x % 32;
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (row >= a.rows) return;  // whole warps leave together; no block barrier follows
  const int vectors = a.cols / E;
  const int64_t offset = row * a.cols;
  const T* x = static_cast<const T*>(a.input) + offset;

  // The whole row is loaded before anything is stored, so output may alias input.
  float v[VPL][E];
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < VPL; ++i) {
    const int vec = lane + 32 * i;
    if (vec < vectors) {
      load_vec16(x + vec * E, v[i]);
#pragma unroll
      for (int j = 0; j < E; ++j) sum += v[i][j];
    }
  }
  const float mean = warp_sum(sum) / a.cols;
  float sq = 0.f;
#pragma unroll
  for (int i = 0; i < VPL; ++i) {
    if (lane + 32 * i < vectors) {
#pragma unroll
      for (int j = 0; j < E; ++j) {
        const float d = v[i][j] - mean;
        sq += d * d;
      }
    }
  }
  const float rstd = rsqrtf(warp_sum(sq) / a.cols + a.eps);

  const T* gamma = static_cast<const T*>(a.gamma);
  const T* beta = static_cast<const T*>(a.beta);
  T* y = static_cast<T*>(a.output) + offset;
#pragma unroll
  for (int i = 0; i < VPL; ++i) {
    const int vec = lane + 32 * i;
    if (vec < vectors) {
      float gv[E], bv[E], out[E];
      load_vec16(gamma + vec * E, gv);
      load_vec16(beta + vec * E, bv);
#pragma unroll
      for (int j = 0; j < E; ++j) out[j] = (v[i][j] - mean) * rstd * gv[j] + bv[j];
      store_vec16(y + vec * E, out);
    }
  }
}

constexpr int kRowThreads = 256;

// Any width: one CTA per row, three passes over it (mean, variance, write).
// Each element is read and written by the same thread in the last pass, so
// output may alias input here too.
template <typename T>
__global__ void __launch_bounds__(kRowThreads) layer_norm_row_kernel(const LayerNormArgs a) {
  __shared__ float scratch[32];
  const int64_t offset = int64_t(blockIdx.x) * a.cols;
  const T* x = static_cast<const T*>(a.input) + offset;

  float sum = 0.f;
  for (int i = threadIdx.x; i < a.cols; i += kRowThreads) sum += to_float(x[i]);
  const float mean = block_sum(sum, scratch) / a.cols;
  float sq = 0.f;
  for (int i = threadIdx.x; i < a.cols; i += kRowThreads) {
    const float d = to_float(x[i]) - mean;
    sq += d * d;
  }
  const float rstd = rsqrtf(block_sum(sq, scratch) / a.cols + a.eps);

  const T* gamma = static_cast<const T*>(a.gamma);
  const T* beta = static_cast<const T*>(a.beta);
  T* y = static_cast<T*>(a.output) + offset;
  for (int i = threadIdx.x; i < a.cols; i += kRowThreads)
    y[i] = from_float<T>((to_float(x[i]) - mean) * rstd * to_float(gamma[i]) + to_float(beta[i]));
}

template <typename T, int VPL>
void launch_warp_kernel(const LayerNormArgs& a, cudaStream_t stream) {
  const int64_t blocks = (a.rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  layer_norm_warp_kernel<T, VPL><<<unsigned(blocks), 32 * kWarpsPerBlock, 0, stream>>>(a);
}

// Smallest instantiated VPL that holds the row.
template <typename T>
void launch_warp_path(const LayerNormArgs& a, cudaStream_t stream) {
  const int per_lane = (a.cols / kVec16<T> + 31) / 32;
  if (per_lane <= 1) return launch_warp_kernel<T, 1>(a, stream);
  if (per_lane <= 2) return launch_warp_kernel<T, 2>(a, stream);
  if (per_lane <= 3) return launch_warp_kernel<T, 3>(a, stream);
  if (per_lane <= 4) return launch_warp_kernel<T, 4>(a, stream);
  if (per_lane <= 5) return launch_warp_kernel<T, 5>(a, stream);
  if (per_lane <= 6) return launch_warp_kernel<T, 6>(a, stream);
  if (per_lane <= 8) return launch_warp_kernel<T, 8>(a, stream);
  if (per_lane <= 12) return launch_warp_kernel<T, 12>(a, stream);
  static_assert(kMaxVectorsPerLane == 16, "the dispatch above must reach kMaxVectorsPerLane");
  return launch_warp_kernel<T, 16>(a, stream);
}

}  // namespace

bool layer_norm_uses_warp_path(const LayerNormParams& p) {
  const int64_t vec = 16 / int64_t(dtype_size(p.dtype));
  const bool aligned =
      is_aligned16(p.input) && is_aligned16(p.output) && is_aligned16(p.gamma) && is_aligned16(p.beta);
  return aligned && p.cols % vec == 0 && p.cols <= 32 * kMaxVectorsPerLane * vec;
}

bool can_implement(const LayerNormParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.rows >= 0 && p.rows <= 0x7fffffff, "rows ", p.rows, " outside 0..2^31-1");
  req.require(p.cols >= 1 && p.cols <= 0x7fffffff, "cols ", p.cols, " outside 1..2^31-1");
  req.require(p.input && p.gamma && p.beta && p.output, "null input, gamma, beta or output");
  req.require(std::isfinite(p.eps) && p.eps > 0.f, "eps ", p.eps, " must be finite and > 0");
  return req.ok;
}

void layer_norm(const LayerNormParams& p) {
  require_implementable(p, "layer_norm");
  if (p.rows == 0) return;
  const LayerNormArgs a{p.input, p.gamma, p.beta, p.output, p.rows, int(p.cols), p.eps};
  const cudaStream_t stream = as_stream(p.stream);
  const bool warp_path = layer_norm_uses_warp_path(p);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (warp_path)
      launch_warp_path<T>(a, stream);
    else
      layer_norm_row_kernel<T><<<unsigned(p.rows), kRowThreads, 0, stream>>>(a);
  });
  check_launch("layer_norm kernel launch");
}

}  // namespace visionrt::kernels
