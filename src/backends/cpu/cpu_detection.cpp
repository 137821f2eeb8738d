// CPU kernels of the ops the real-time DETRs add: the backbone's and the
// hybrid encoder's pooling, upsampling and joins, the encoder's fixed
// positions, and the two-stage query selection (anchors, top-k).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <numeric>

#include "backends/cpu/cpu_ops.hpp"
#include "core/thread_pool.hpp"

namespace visionrt::cpu {

void avg_pool(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  const graph::Attrs& at = a.node->attrs;
  const int64_t H = x.dim(1), W = x.dim(2), C = x.dim(3), Ho = a.out.dim(1), Wo = a.out.dim(2);
  const float* src = x.f32();
  float* out = a.out.f32();
  a.pool->parallel_for(a.out.numel() / C, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / (Ho * Wo), oy = (r / Wo) % Ho, ox = r % Wo;
      const int64_t y0 = oy * at.stride, y1 = std::min<int64_t>(y0 + at.kernel, H);
      const int64_t x0 = ox * at.stride, x1 = std::min<int64_t>(x0 + at.kernel, W);
      float* o = out + r * C;
      std::fill(o, o + C, 0.f);
      for (int64_t y = y0; y < y1; ++y)
        for (int64_t xx = x0; xx < x1; ++xx) {
          const float* p = src + ((n * H + y) * W + xx) * C;
          for (int64_t c = 0; c < C; ++c) o[c] += p[c];
        }
      // A partial window divides by the cells it covers, as torch's ceil_mode.
      const float inv = 1.f / float((y1 - y0) * (x1 - x0));
      for (int64_t c = 0; c < C; ++c) o[c] *= inv;
    }
  });
}

void upsample_nearest(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  const int64_t H = x.dim(1), W = x.dim(2), C = x.dim(3), s = a.node->attrs.stride;
  const int64_t Ho = H * s, Wo = W * s;
  const float* src = x.f32();
  float* out = a.out.f32();
  a.pool->parallel_for(a.out.numel() / C, 256, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / (Ho * Wo), oy = (r / Wo) % Ho, ox = r % Wo;
      std::memcpy(out + r * C, src + ((n * H + oy / s) * W + ox / s) * C, C * sizeof(float));
    }
  });
}

void concat(const KernelArgs& a) {
  // Rows of the two inputs interleave: per index before the axis, a's
  // block then b's.
  const Tensor &x = *a.in[0], &y = *a.in[1];
  const int axis = a.node->attrs.axis;
  int64_t outer = 1;
  for (int d = 0; d < axis; ++d) outer *= x.dim(d);
  const size_t xb = x.nbytes() / outer, yb = y.nbytes() / outer;
  const char *xs = static_cast<const char*>(x.data()), *ys = static_cast<const char*>(y.data());
  char* out = static_cast<char*>(a.out.data());
  a.pool->parallel_for(outer, 64, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      std::memcpy(out + i * (xb + yb), xs + i * xb, xb);
      std::memcpy(out + i * (xb + yb) + xb, ys + i * yb, yb);
    }
  });
}

void grid_sincos_position(const KernelArgs& a) {
  // Per cell (y, x) of the grid: [sin(y w_i), cos(y w_i), sin(x w_i),
  // cos(x w_i)] over i < D/4, w_i = temperature^(-i / (D/4)); in double,
  // as transformers builds it, then rounded.
  const graph::Attrs& at = a.node->attrs;
  const int64_t N = a.out.dim(0), S = a.out.dim(1), D = a.out.dim(2), F = D / 4;
  float* out = a.out.f32();
  a.pool->parallel_for(S, 16, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      const double y = double(s / at.out_w), x = double(s % at.out_w);
      float* o = out + s * D;
      for (int64_t i = 0; i < F; ++i) {
        const double omega = 1.0 / std::pow(double(at.temperature), double(i) / double(F));
        o[i] = float(std::sin(y * omega));
        o[F + i] = float(std::cos(y * omega));
        o[2 * F + i] = float(std::sin(x * omega));
        o[3 * F + i] = float(std::cos(x * omega));
      }
    }
  });
  for (int64_t n = 1; n < N; ++n) std::memcpy(out + n * S * D, out, S * D * sizeof(float));
}

void anchor_boxes(const KernelArgs& a) {
  // Level l's cell (y, x): centre ((x + 0.5) / w, (y + 0.5) / h), side
  // 0.05 * 2^l, as logits; a box with any coordinate outside (0.01, 0.99)
  // is invalid. float32 throughout, as RT-DETR computes them.
  const graph::Attrs& at = a.node->attrs;
  const int64_t N = a.out.dim(0), S = a.out.dim(1);
  float* out = a.out.f32();
  int64_t i = 0;
  for (int l = 0; l < at.levels; ++l) {
    const int h = at.level_h[l], w = at.level_w[l];
    const float side = 0.05f * std::ldexp(1.f, l);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x, ++i) {
        const float box[4] = {(float(x) + 0.5f) / float(w), (float(y) + 0.5f) / float(h), side, side};
        bool valid = true;
        for (float v : box) valid = valid && v > 0.01f && v < 0.99f;
        for (int k = 0; k < 4; ++k) out[i * 4 + k] = valid ? std::log(box[k] / (1.f - box[k])) : FLT_MAX;
      }
  }
  for (int64_t n = 1; n < N; ++n) std::memcpy(out + n * S * 4, out, S * 4 * sizeof(float));
}

void mask_invalid_anchors(const KernelArgs& a) {
  const Tensor &x = *a.in[0], &anchors = *a.in[1];
  const int64_t rows = x.numel() / x.dim(-1), D = x.dim(-1);
  const float *src = x.f32(), *anc = anchors.f32();
  float* out = a.out.f32();
  a.pool->parallel_for(rows, 256, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* b = anc + r * 4;
      const bool valid = b[0] < FLT_MAX && b[1] < FLT_MAX && b[2] < FLT_MAX && b[3] < FLT_MAX;
      if (valid) std::memcpy(out + r * D, src + r * D, D * sizeof(float));
      else std::fill(out + r * D, out + (r + 1) * D, 0.f);
    }
  });
}

size_t gather_top_k_workspace(const NodeSignature& sig, int) {
  const Shape& x = *sig.in_shapes[0];
  return static_cast<size_t>(x[0] * x[1]) * (sizeof(float) + sizeof(int32_t));
}

void gather_top_k(const KernelArgs& a) {
  const Tensor &x = *a.in[0], &scores = *a.in[1];
  const int64_t N = x.dim(0), S = x.dim(1), E = x.dim(2), C = scores.dim(2), K = a.node->attrs.count;
  float* best = static_cast<float*>(a.workspace);
  int32_t* order = reinterpret_cast<int32_t*>(best + N * S);
  const float* sc = scores.f32();
  // NaN ranks above everything, as in torch.topk; a total order either way,
  // which the sort needs.
  a.pool->parallel_for(N * S, 256, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float m = -INFINITY;
      for (int64_t c = 0; c < C; ++c) m = std::isnan(sc[r * C + c]) || std::isnan(m) ? INFINITY : std::max(m, sc[r * C + c]);
      best[r] = m;
    }
  });
  a.pool->parallel_for(N, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const float* b = best + n * S;
      int32_t* o = order + n * S;
      std::iota(o, o + S, 0);
      // Greatest first, ties to the lower row.
      std::partial_sort(o, o + K, o + S, [b](int32_t i, int32_t j) { return b[i] > b[j] || (b[i] == b[j] && i < j); });
      for (int64_t k = 0; k < K; ++k)
        std::memcpy(a.out.f32() + (n * K + k) * E, x.f32() + (n * S + o[k]) * E, E * sizeof(float));
    }
  });
}

void inverse_sigmoid(const KernelArgs& a) {
  const float* x = a.in[0]->f32();
  float* out = a.out.f32();
  a.pool->parallel_for(a.out.numel(), 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float v = std::min(std::max(x[i], 0.f), 1.f);
      out[i] = std::log(std::max(v, 1e-5f) / std::max(1.f - v, 1e-5f));
    }
  });
}

}  // namespace visionrt::cpu
