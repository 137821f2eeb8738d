// Bicubic position-table resampling: a grid-stride loop over the output
// elements, consecutive threads on consecutive channels of one position (so
// the 16 taps of a warp are coalesced reads). Each thread derives its
// position's source coordinates and cubic weights; they are a few flops
// beside 16 loads.
#include <algorithm>
#include <cmath>

#include "kernels/cuda_common.cuh"
#include "kernels/resample_position.hpp"

namespace visionrt::kernels {
namespace {

struct ResampleArgs {
  const void* input;
  void* output;
  int in_h, in_w, out_w;
  int64_t dim, count;      // count: output elements
  float scale_y, scale_x;  // in / out, in fp32 as PyTorch computes them
};

constexpr int kThreads = 256;
constexpr int64_t kMaxElements = int64_t(1) << 40;  // keeps byte counts from overflowing

// Cubic convolution weights of the four taps at offsets -1..2 from floor(x),
// t = x - floor(x); PyTorch's cubic_convolution1/2 with A = -0.75.
__device__ __forceinline__ void cubic_weights(float t, float (&w)[4]) {
  constexpr float A = -0.75f;
  auto near = [](float x) { return ((A + 2.f) * x - (A + 3.f)) * x * x + 1.f; };
  auto far = [](float x) { return ((A * x - 5.f * A) * x + 8.f * A) * x - 4.f * A; };
  w[0] = far(t + 1.f);
  w[1] = near(t);
  w[2] = near(1.f - t);
  w[3] = far(2.f - t);
}

// Source coordinate of output index o. The explicit roundings keep nvcc from
// fusing them into an fma, so floor() picks the same taps as the CPU.
__device__ __forceinline__ float source_coordinate(float scale, int o) {
  return __fsub_rn(__fmul_rn(scale, float(o) + 0.5f), 0.5f);
}

template <typename T>
__global__ void __launch_bounds__(kThreads) resample_position_kernel(const ResampleArgs a) {
  const T* in = static_cast<const T*>(a.input);
  T* out = static_cast<T*>(a.output);
  for (int64_t e = blockIdx.x * int64_t(kThreads) + threadIdx.x; e < a.count;
       e += int64_t(gridDim.x) * kThreads) {
    const int64_t row = e / a.dim, d = e % a.dim;
    const int pos = int(row), oy = pos / a.out_w, ox = pos % a.out_w;
    const float fy = source_coordinate(a.scale_y, oy), fx = source_coordinate(a.scale_x, ox);
    const float fy0 = floorf(fy), fx0 = floorf(fx);
    const int iy = int(fy0), ix = int(fx0);
    float wy[4], wx[4];
    cubic_weights(fy - fy0, wy);
    cubic_weights(fx - fx0, wx);
    float acc = 0.f;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int y = min(max(iy - 1 + i, 0), a.in_h - 1);
      float row_sum = 0.f;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int x = min(max(ix - 1 + j, 0), a.in_w - 1);
        row_sum += wx[j] * to_float(in[(int64_t(y) * a.in_w + x) * a.dim + d]);
      }
      acc += wy[i] * row_sum;
    }
    out[e] = from_float<T>(acc);
  }
}


// One axis of the antialiased filter at output index o: the first tap, the
// tap count and the sum of the unnormalised weights, as torch's
// _compute_weights_aa in fp32.
struct AaAxis {
  float center, support, invscale, total;
  int first, count;
};

__device__ __forceinline__ float aa_cubic(float x) {
  constexpr float A = -0.5f;
  x = fabsf(x);
  if (x < 1.f) return ((A + 2.f) * x - (A + 3.f)) * x * x + 1.f;
  if (x < 2.f) return ((A * x - 5.f * A) * x + 8.f * A) * x - 4.f * A;
  return 0.f;
}

__device__ __forceinline__ float aa_raw_weight(const AaAxis& t, int j) {
  return aa_cubic(__fmul_rn(__fadd_rn(__fsub_rn(float(j + t.first), t.center), 0.5f), t.invscale));
}

__device__ __forceinline__ float aa_weight(const AaAxis& t, int j) {
  const float w = aa_raw_weight(t, j);
  return t.total != 0.f ? w / t.total : w;
}

__device__ __forceinline__ AaAxis aa_axis(float scale, int in, int o) {
  AaAxis t;
  t.support = scale >= 1.f ? 2.f * scale : 2.f;
  t.invscale = scale >= 1.f ? 1.f / scale : 1.f;
  t.center = __fmul_rn(scale, float(o) + 0.5f);
  t.first = max(int(__fadd_rn(__fsub_rn(t.center, t.support), 0.5f)), 0);
  t.count = min(int(__fadd_rn(__fadd_rn(t.center, t.support), 0.5f)), in) - t.first;
  t.total = 0.f;
  for (int j = 0; j < t.count; ++j) t.total += aa_raw_weight(t, j);
  return t;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) resample_antialiased_kernel(const ResampleArgs a) {
  const T* in = static_cast<const T*>(a.input);
  T* out = static_cast<T*>(a.output);
  for (int64_t e = blockIdx.x * int64_t(kThreads) + threadIdx.x; e < a.count;
       e += int64_t(gridDim.x) * kThreads) {
    const int64_t row = e / a.dim, d = e % a.dim;
    const int pos = int(row), oy = pos / a.out_w, ox = pos % a.out_w;
    const AaAxis ty = aa_axis(a.scale_y, a.in_h, oy), tx = aa_axis(a.scale_x, a.in_w, ox);
    float acc = 0.f;
    for (int i = 0; i < ty.count; ++i) {
      const T* src = in + (int64_t(ty.first + i) * a.in_w + tx.first) * a.dim + d;
      float h = 0.f;
      for (int j = 0; j < tx.count; ++j) h += aa_weight(tx, j) * to_float(src[int64_t(j) * a.dim]);
      acc += aa_weight(ty, i) * h;
    }
    out[e] = from_float<T>(acc);
  }
}

}  // namespace

bool can_implement(const ResamplePositionParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.in_h >= 1 && p.in_w >= 1 && p.out_h >= 1 && p.out_w >= 1, "bad grids ", p.in_h, "x",
              p.in_w, " -> ", p.out_h, "x", p.out_w);
  req.require(p.dim >= 1, "dim ", p.dim, " must be >= 1");
  req.require(p.input && p.output, "null input or output");
  if (!req.ok) return false;
  // Positions are ints on the device; tables far beyond any device's memory are refused.
  const int64_t in_rows = int64_t(p.in_h) * p.in_w, out_rows = int64_t(p.out_h) * p.out_w;
  req.require(in_rows <= 0x7fffffff && out_rows <= 0x7fffffff, "grid too large");
  if (!req.ok) return false;
  req.require(p.dim <= kMaxElements / std::max(in_rows, out_rows), "table of ",
              std::max(in_rows, out_rows), " x ", p.dim, " elements is too large");
  if (!req.ok) return false;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  req.require(!overlaps(p.output, out_rows * p.dim * esize, p.input, in_rows * p.dim * esize),
              "output overlaps the input");
  return req.ok;
}

void resample_position(const ResamplePositionParams& p) {
  require_implementable(p, "resample_position");
  ResampleArgs a;
  a.input = p.input;
  a.output = p.output;
  a.in_h = p.in_h;
  a.in_w = p.in_w;
  a.out_w = p.out_w;
  a.dim = p.dim;
  a.count = int64_t(p.out_h) * p.out_w * p.dim;
  a.scale_y = float(p.in_h) / float(p.out_h);
  a.scale_x = float(p.in_w) / float(p.out_w);
  // Enough CTAs to fill any current GPU; the kernel loops over the rest.
  const unsigned grid = unsigned(std::min<int64_t>((a.count + kThreads - 1) / kThreads, 8192));
  const cudaStream_t stream = as_stream(p.stream);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (p.antialias)
      resample_antialiased_kernel<T><<<grid, kThreads, 0, stream>>>(a);
    else
      resample_position_kernel<T><<<grid, kThreads, 0, stream>>>(a);
  });
  check_launch("resample_position kernel launch");
}

}  // namespace visionrt::kernels
