// CPU kernels of the element-wise and layout ops D-FINE's HGNetV2 backbone
// adds: the uneven zero pad before its stem's 2x2 convolutions and pool, and
// the learnable affine block (also D-FINE's clamps). Its depthwise
// convolutions are conv2d's (cpu_conv.cpp).
#include <algorithm>
#include <cstring>

#include "backends/cpu/cpu_ops.hpp"
#include "core/thread_pool.hpp"

namespace visionrt::cpu {

void pad_spatial(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  const int64_t H = x.dim(1), W = x.dim(2), C = x.dim(3), before = a.node->attrs.pad;
  const int64_t Ho = a.out.dim(1), Wo = a.out.dim(2);
  const float* src = x.f32();
  float* out = a.out.f32();
  // One output row per item: zeros, or zeros around a row of x.
  a.pool->parallel_for(a.out.dim(0) * Ho, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / Ho, y = r % Ho - before;
      float* o = out + r * Wo * C;
      if (y < 0 || y >= H) {
        std::fill(o, o + Wo * C, 0.f);
        continue;
      }
      std::fill(o, o + before * C, 0.f);
      std::memcpy(o + before * C, src + (n * H + y) * W * C, W * C * sizeof(float));
      std::fill(o + (before + W) * C, o + Wo * C, 0.f);
    }
  });
}

void affine(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  const float scale = at.scale, shift = at.shift, lo = at.lo, hi = at.hi;
  const float* x = a.in[0]->f32();
  float* out = a.out.f32();
  a.pool->parallel_for(a.out.numel(), 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      // Comparisons false for NaN, which passes through as torch.clamp's.
      const float v = x[i] * scale + shift;
      out[i] = v < lo ? lo : (v > hi ? hi : v);
    }
  });
}

}  // namespace visionrt::cpu
