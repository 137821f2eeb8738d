// Convolution and pooling on NHWC activations (the CNN backbone of DETR).
// NHWC lets a convolution be one matrix product: every output pixel is a row
// of kh*kw*Ci gathered inputs, and the weight is stored [Co, kh, kw, Ci] so
// each output channel is a row too; 1x1 stride-1 convolutions need no gather.
// Depthwise convolutions (groups == Ci == Co) are no matrix product: they
// run directly, each output pixel a multiply-add over its taps along the
// contiguous channels.
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "backends/cpu/cpu_ops.hpp"
#include "backends/cpu/gemm.hpp"
#include "graph/ops.hpp"
#include "core/thread_pool.hpp"

namespace visionrt::cpu {
namespace {

// Output pixels gathered per matrix product: bounds the scratch memory (and
// keeps it in the last-level cache) however large the image.
int64_t rows_per_chunk(int64_t K) { return std::max<int64_t>(64, (int64_t(1) << 20) / K); }

bool is_pointwise(const Tensor& w, const graph::Attrs& a) {
  return w.dim(1) == 1 && w.dim(2) == 1 && a.stride == 1 && a.pad == 0;
}

}  // namespace

size_t conv2d_workspace(const NodeSignature& sig, int) {
  const auto& in = sig.in_shapes;
  const graph::Attrs& a = sig.node->attrs;
  const Shape &x = *in[0], &w = *in[1];
  if (w[1] == 1 && w[2] == 1 && a.stride == 1 && a.pad == 0) return 0;
  const int64_t K = w[1] * w[2] * w[3];
  const int64_t rows = x[0] * graph::conv_out_size(x[1], w[1], a) * graph::conv_out_size(x[2], w[2], a);
  return static_cast<size_t>(std::min(rows, rows_per_chunk(K)) * K) * sizeof(float);
}

void nchw_to_nhwc(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  const int64_t N = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
  const float* src = x.f32();
  float* dst = a.out.f32();
  a.pool->parallel_for(N * HW, 1024, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / HW, i = p % HW;
      for (int64_t c = 0; c < C; ++c) dst[p * C + c] = src[(n * C + c) * HW + i];
    }
  });
}

void conv2d(const KernelArgs& a) {
  const Tensor &x = *a.in[0], &w = *a.in[1];
  const graph::Attrs& at = a.node->attrs;
  const int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), Ci = x.dim(3);
  const int64_t Co = w.dim(0), kh = w.dim(1), kw = w.dim(2), K = kh * kw * Ci;
  const int64_t Ho = a.out.dim(1), Wo = a.out.dim(2), rows = N * Ho * Wo;
  const float* src = x.f32();
  float* out = a.out.f32();
  if (is_pointwise(w, at)) {
    gemm_nt(rows, Co, K, src, K, w.f32(), K, out, Co, a.pool);
  } else {
    float* cols = static_cast<float*>(a.workspace);
    const int64_t chunk = rows_per_chunk(K);
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
      const int64_t r1 = std::min(rows, r0 + chunk);
      a.pool->parallel_for(r1 - r0, 16, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t r = r0 + i, n = r / (Ho * Wo), oy = (r / Wo) % Ho, ox = r % Wo;
          float* row = cols + i * K;
          for (int64_t ky = 0; ky < kh; ++ky) {
            const int64_t iy = oy * at.stride - at.pad + ky * at.dilation;
            for (int64_t kx = 0; kx < kw; ++kx) {
              const int64_t ix = ox * at.stride - at.pad + kx * at.dilation;
              float* dst = row + (ky * kw + kx) * Ci;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                std::memset(dst, 0, Ci * sizeof(float));
              else
                std::memcpy(dst, src + ((n * H + iy) * W + ix) * Ci, Ci * sizeof(float));
            }
          }
        }
      });
      gemm_nt(r1 - r0, Co, K, cols, K, w.f32(), K, out + r0 * Co, Co, a.pool);
    }
  }
  const float* bias = a.in[2]->f32();
  const float* res = a.num_inputs > 3 ? a.in[3]->f32() : nullptr;
  a.pool->parallel_for(rows, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) apply_epilogue(at.epilogue, out + r * Co, bias, res ? res + r * Co : nullptr, Co);
  });
}

bool dense_conv2d_can_implement(const NodeSignature& sig, std::string* why) {
  if (sig.node->op != graph::Op::conv2d || sig.node->attrs.groups == 1) return true;
  if (why) *why = "conv2d with groups " + std::to_string(sig.node->attrs.groups) + " is no dense convolution";
  return false;
}

bool depthwise_conv2d_can_implement(const NodeSignature& sig, std::string* why) {
  const Shape &x = *sig.in_shapes[0], &w = *sig.in_shapes[1];
  const int groups = sig.node->attrs.groups;
  if (groups == x[3] && w[0] == x[3] && w[3] == 1) return true;
  if (why)
    *why = "conv2d with groups " + std::to_string(groups) + " of " + std::to_string(x[3]) + " input and " +
           std::to_string(w[0]) + " output channels: the CPU runs groups 1 and depthwise (groups == Ci == Co) only";
  return false;
}

// The weight [C, kh, kw, 1] transposed to [kh * kw, C], so that each tap's
// weights lie along the channels as x's do.
size_t depthwise_conv2d_workspace(const NodeSignature& sig, int) {
  const Shape& w = *sig.in_shapes[1];
  return static_cast<size_t>(w[0] * w[1] * w[2]) * sizeof(float);
}

void depthwise_conv2d(const KernelArgs& a) {
  const Tensor &x = *a.in[0], &w = *a.in[1];
  const graph::Attrs& at = a.node->attrs;
  const int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
  const int64_t kh = w.dim(1), kw = w.dim(2), taps = kh * kw;
  const int64_t Ho = a.out.dim(1), Wo = a.out.dim(2);
  float* wt = static_cast<float*>(a.workspace);
  const float* wsrc = w.f32();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t t = 0; t < taps; ++t) wt[t * C + c] = wsrc[c * taps + t];
  const float* src = x.f32();
  const float* bias = a.in[2]->f32();
  const float* res = a.num_inputs > 3 ? a.in[3]->f32() : nullptr;
  float* out = a.out.f32();
  // One output row (n, oy) per item: its taps' rows of x stay in cache.
  a.pool->parallel_for(N * Ho, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / Ho, oy = r % Ho;
      for (int64_t ox = 0; ox < Wo; ++ox) {
        float* __restrict o = out + (r * Wo + ox) * C;
        std::fill(o, o + C, 0.f);
        for (int64_t ky = 0; ky < kh; ++ky) {
          const int64_t iy = oy * at.stride - at.pad + ky * at.dilation;
          if (iy < 0 || iy >= H) continue;
          for (int64_t kx = 0; kx < kw; ++kx) {
            const int64_t ix = ox * at.stride - at.pad + kx * at.dilation;
            if (ix < 0 || ix >= W) continue;
            const float* __restrict p = src + ((n * H + iy) * W + ix) * C;
            const float* __restrict k = wt + (ky * kw + kx) * C;
            for (int64_t c = 0; c < C; ++c) o[c] += p[c] * k[c];
          }
        }
        apply_epilogue(at.epilogue, o, bias, res ? res + (r * Wo + ox) * C : nullptr, C);
      }
    }
  });
}

void max_pool(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  const graph::Attrs& at = a.node->attrs;
  const int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
  const int64_t Ho = a.out.dim(1), Wo = a.out.dim(2);
  const float* src = x.f32();
  float* out = a.out.f32();
  a.pool->parallel_for(N * Ho * Wo, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / (Ho * Wo), oy = (r / Wo) % Ho, ox = r % Wo;
      float* o = out + r * C;
      std::fill(o, o + C, -std::numeric_limits<float>::infinity());
      for (int64_t ky = 0; ky < at.kernel; ++ky) {
        const int64_t iy = oy * at.stride - at.pad + ky;
        if (iy < 0 || iy >= H) continue;
        for (int64_t kx = 0; kx < at.kernel; ++kx) {
          const int64_t ix = ox * at.stride - at.pad + kx;
          if (ix < 0 || ix >= W) continue;
          const float* p = src + ((n * H + iy) * W + ix) * C;
          for (int64_t c = 0; c < C; ++c) o[c] = std::max(o[c], p[c]);
        }
      }
    }
  });
}

}  // namespace visionrt::cpu
