// DETR's padding mask at feature resolution and its 2-D sine position
// encoding, computed from the mask so padded pixels shift no position.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/cpu/cpu_ops.hpp"
#include "backends/cpu/isa/isa_kernels.hpp"
#include "core/thread_pool.hpp"

namespace visionrt::cpu {

size_t sine_position_workspace(const NodeSignature& sig, int) {
  const graph::Attrs& a = sig.node->attrs;
  // The per-channel divisors, then the two cumulative sums of one image.
  return static_cast<size_t>(a.dim / 2 + 2 * a.out_h * a.out_w) * sizeof(float);
}

void mask_resize(const KernelArgs& a) {
  // torch.nn.functional.interpolate(mode="nearest") with an output size:
  // source index floor(dst * (in / out)) in float, clamped to the input.
  const Tensor& m = *a.in[0];
  const int64_t N = m.dim(0), H = m.dim(1), W = m.dim(2);
  const int oh = a.node->attrs.out_h, ow = a.node->attrs.out_w;
  const float sy = static_cast<float>(H) / oh, sx = static_cast<float>(W) / ow;
  const float* src = m.f32();
  float* out = a.out.f32();
  for (int64_t n = 0; n < N; ++n)
    for (int y = 0; y < oh; ++y) {
      const int64_t iy = std::min<int64_t>(static_cast<int64_t>(std::floor(y * sy)), H - 1);
      for (int x = 0; x < ow; ++x) {
        const int64_t ix = std::min<int64_t>(static_cast<int64_t>(std::floor(x * sx)), W - 1);
        out[(n * oh + y) * ow + x] = src[(n * H + iy) * W + ix] != 0.f ? 1.f : 0.f;
      }
    }
}

void sine_position(const KernelArgs& a) { sine_position_on(best_isa(), a); }

void sine_position_on(Isa isa, const KernelArgs& a) {
  // As DetrSinePositionEmbedding(normalize=True): cumulative sums of the
  // valid mask down and across, normalised by the last sum, scaled by 2*pi;
  // channel i of each half divides by T^(2*floor(i/2)/F), even i -> sin,
  // odd i -> cos; the y half comes first. float32 throughout, as the reference.
  const graph::Attrs& at = a.node->attrs;
  const int64_t N = a.in[0]->dim(0), oh = at.out_h, ow = at.out_w, D = a.out.dim(2), F = D / 2;
  const float* mask = a.in[0]->f32();
  float* out = a.out.f32();
  constexpr float kScale = 6.283185307179586f, kEps = 1e-6f;
  float* dim_t = static_cast<float*>(a.workspace);
  float* ycum = dim_t + F;
  float* xcum = ycum + oh * ow;
  for (int64_t i = 0; i < F; ++i)
    dim_t[i] = std::pow(at.temperature, static_cast<float>(2 * (i / 2)) / static_cast<float>(F));
  const auto sine_channels = isa_kernels(isa).sine_channels;
  for (int64_t n = 0; n < N; ++n) {
    const float* m = mask + n * oh * ow;
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        const int64_t i = y * ow + x;
        ycum[i] = m[i] + (y ? ycum[i - ow] : 0.f);
        xcum[i] = m[i] + (x ? xcum[i - 1] : 0.f);
      }
    a.pool->parallel_for(oh * ow, 16, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t y = i / ow, x = i % ow;
        const float ye = ycum[i] / (ycum[(oh - 1) * ow + x] + kEps) * kScale;
        const float xe = xcum[i] / (xcum[y * ow + ow - 1] + kEps) * kScale;
        float* o = out + (n * oh * ow + i) * D;
        sine_channels(ye, dim_t, F, o);
        sine_channels(xe, dim_t, F, o + F);
      }
    });
  }
}

}  // namespace visionrt::cpu

namespace visionrt::cpu {
namespace {

// Cubic convolution weights (A = -0.75), as PyTorch's upsample_bicubic2d.
void cubic_weights(float t, float w[4]) {
  constexpr float A = -0.75f;
  auto near = [](float x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
  auto far = [](float x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
  w[0] = far(t + 1);
  w[1] = near(t);
  w[2] = near(1 - t);
  w[3] = far(2 - t);
}

// The antialiased filter's taps per output index along one axis, as
// PyTorch's _compute_weights_aa in float: a cubic (A = -0.5) stretched by
// the scale when shrinking, normalised to sum 1.
struct AxisTaps {
  int max_taps;
  int* first;  // [out]
  int* count;  // [out]
  float* w;    // [out, max_taps]
};

int max_aa_taps(int in, int out) {
  const float scale = static_cast<float>(in) / out;
  const float support = scale >= 1.f ? 2.f * scale : 2.f;
  return static_cast<int>(std::ceil(2.f * support)) + 2;
}

float aa_cubic(float x) {
  constexpr float A = -0.5f;
  x = std::abs(x);
  if (x < 1.f) return ((A + 2) * x - (A + 3)) * x * x + 1;
  if (x < 2.f) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return 0.f;
}

void aa_axis(int in, int out, AxisTaps t) {
  const float scale = static_cast<float>(in) / out;
  const float support = scale >= 1.f ? 2.f * scale : 2.f;
  const float invscale = scale >= 1.f ? 1.f / scale : 1.f;
  for (int o = 0; o < out; ++o) {
    const float center = scale * (o + 0.5f);
    const int lo = std::max(static_cast<int>(center - support + 0.5f), 0);
    const int n = std::min(static_cast<int>(center + support + 0.5f), in) - lo;
    float* w = t.w + int64_t(o) * t.max_taps;
    float total = 0.f;
    for (int j = 0; j < n; ++j) total += w[j] = aa_cubic((j + lo - center + 0.5f) * invscale);
    if (total != 0.f)
      for (int j = 0; j < n; ++j) w[j] /= total;
    t.first[o] = lo;
    t.count[o] = n;
  }
}

AxisTaps axis_taps(char*& cursor, int in, int out) {
  AxisTaps t;
  t.max_taps = max_aa_taps(in, out);
  t.first = reinterpret_cast<int*>(cursor);
  t.count = t.first + out;
  t.w = reinterpret_cast<float*>(t.count + out);
  cursor = reinterpret_cast<char*>(t.w + int64_t(out) * t.max_taps);
  return t;
}

// PyTorch's antialiased bicubic: the width pass, then the height pass over
// its float results (a pass is skipped where a side keeps its size; the
// filter is then the identity).
void resample_antialiased(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  const int gh = at.in_h, gw = at.in_w, oh = at.out_h, ow = at.out_w;
  const int64_t D = a.in[0]->dim(-1);
  char* cursor = static_cast<char*>(a.workspace);
  const AxisTaps ty = axis_taps(cursor, gh, oh), tx = axis_taps(cursor, gw, ow);
  aa_axis(gh, oh, ty);
  aa_axis(gw, ow, tx);
  const float* src = a.in[0]->f32();
  float* dst = a.out.f32();
  a.pool->parallel_for(int64_t(oh) * ow, 4, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int oy = static_cast<int>(p / ow), ox = static_cast<int>(p % ow);
      const float* wy = ty.w + int64_t(oy) * ty.max_taps;
      const float* wx = tx.w + int64_t(ox) * tx.max_taps;
      float* o = dst + p * D;
      for (int64_t d = 0; d < D; ++d) {
        float acc = 0.f;
        for (int i = 0; i < ty.count[oy]; ++i) {
          const float* row = src + (int64_t(ty.first[oy] + i) * gw + tx.first[ox]) * D + d;
          float h = 0.f;
          for (int j = 0; j < tx.count[ox]; ++j) h += wx[j] * row[int64_t(j) * D];
          acc += wy[i] * h;
        }
        o[d] = acc;
      }
    }
  });
}

}  // namespace

size_t resample_position_workspace(const NodeSignature& sig, int) {
  const graph::Attrs& at = sig.node->attrs;
  if (!at.antialias) return 0;
  auto axis = [](int in, int out) {
    return static_cast<size_t>(out) * (2 * sizeof(int) + sizeof(float) * static_cast<size_t>(max_aa_taps(in, out)));
  };
  return axis(at.in_h, at.out_h) + axis(at.in_w, at.out_w);
}

// torch.nn.functional.interpolate(mode="bicubic", align_corners=False) of
// a [1, gh*gw, D] grid of patch positions to the output grid, as
// transformers' interpolate_pos_encoding; with antialias=True when the
// node says so.
void resample_position(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  if (at.antialias) return resample_antialiased(a);
  const int gh = at.in_h, gw = at.in_w, new_h = at.out_h, new_w = at.out_w;
  const int64_t D = a.in[0]->dim(-1);
  const float* src = a.in[0]->f32();
  float* dst = a.out.f32();
  // Source coordinate of an output index, as PyTorch computes it for cubic
  // modes with align_corners=False: no clamping to zero before flooring.
  const float sy = static_cast<float>(gh) / new_h, sx = static_cast<float>(gw) / new_w;
  a.pool->parallel_for(int64_t(new_h) * new_w, 16, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int oy = static_cast<int>(p / new_w), ox = static_cast<int>(p % new_w);
      const float fy = sy * (oy + 0.5f) - 0.5f, fx = sx * (ox + 0.5f) - 0.5f;
      const int iy = static_cast<int>(std::floor(fy)), ix = static_cast<int>(std::floor(fx));
      float wy[4], wx[4];
      cubic_weights(fy - iy, wy);
      cubic_weights(fx - ix, wx);
      float* o = dst + p * D;
      for (int64_t d = 0; d < D; ++d) {
        float acc = 0.f;
        for (int i = 0; i < 4; ++i) {
          const int y = std::min(std::max(iy - 1 + i, 0), gh - 1);
          float row = 0.f;
          for (int j = 0; j < 4; ++j) {
            const int xx = std::min(std::max(ix - 1 + j, 0), gw - 1);
            row += wx[j] * src[(int64_t(y) * gw + xx) * D + d];
          }
          acc += wy[i] * row;
        }
        o[d] = acc;
      }
    }
  });
}

}  // namespace visionrt::cpu
