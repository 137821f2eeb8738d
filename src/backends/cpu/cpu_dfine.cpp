// CPU kernels of the ops D-FINE's decoder adds: the gating product, the
// channel slice, and the two readings of its per-side box distributions
// (the fine-grained distribution refinement's integral, and the top
// probabilities its localization quality estimate reads).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "backends/cpu/cpu_ops.hpp"
#include "core/thread_pool.hpp"

namespace visionrt::cpu {
namespace {

// The probabilities of one side's logits, softmax with its maximum taken
// out first: p[i] = exp(x[i] - max) / sum. A NaN or +inf logit, or logits
// all -inf, make the sum NaN and so every probability NaN, as in torch.
void side_softmax(const float* x, int64_t n, float* p) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  float sum = 0.f;
  for (int64_t i = 0; i < n; ++i) sum += p[i] = std::exp(x[i] - m);
  const float inv = 1.f / sum;
  for (int64_t i = 0; i < n; ++i) p[i] *= inv;
}

void dfine_weighting_function(int bins, float up, float reg_scale, float* w) {
  // transformers' weighting_function in float32, as torch evaluates it:
  // [-2 ub1, 1 - step^(bins/2 - 1), ..., 1 - step, 0, step - 1, ...,
  //  step^(bins/2 - 1) - 1, 2 ub1], ub1 = |up| |reg_scale|,
  // step = (ub1 + 1)^(2 / (bins - 2)). With 2 bins there is no step.
  const int half = bins / 2;
  const float ub1 = std::abs(up) * std::abs(reg_scale);
  const float step = bins > 2 ? std::pow(ub1 + 1.f, float(2.0 / double(bins - 2))) : 1.f;
  w[0] = -(ub1 * 2.f);
  w[bins] = ub1 * 2.f;
  w[half] = 0.f;
  for (int i = 1; i < half; ++i) {
    const float s = std::pow(step, float(i));
    w[half - i] = -s + 1.f;
    w[half + i] = s - 1.f;
  }
}

}  // namespace

void mul(const KernelArgs& a) {
  const float *x = a.in[0]->f32(), *y = a.in[1]->f32();
  float* out = a.out.f32();
  a.pool->parallel_for(a.out.numel(), 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) out[i] = x[i] * y[i];
  });
}

void slice_last(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  const int64_t C = x.dim(-1), width = a.node->attrs.width, offset = a.node->attrs.offset;
  const int64_t rows = C > 0 ? x.numel() / C : 0;
  const float* src = x.f32();
  float* out = a.out.f32();
  a.pool->parallel_for(rows, 256, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) std::memcpy(out + r * width, src + r * C + offset, width * sizeof(float));
  });
}

void fdr_boxes(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  const int64_t n = at.bins + 1, rows = a.out.numel() / 4;
  std::vector<float> w(static_cast<size_t>(n));
  dfine_weighting_function(at.bins, at.up, at.reg_scale, w.data());
  const float rs = std::abs(at.reg_scale);
  const float *corners = a.in[0]->f32(), *boxes = a.in[1]->f32();
  float* out = a.out.f32();
  a.pool->parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    std::vector<float> p(static_cast<size_t>(n));
    for (int64_t r = r0; r < r1; ++r) {
      float d[4];
      for (int s = 0; s < 4; ++s) {
        side_softmax(corners + (r * 4 + s) * n, n, p.data());
        float sum = 0.f;
        for (int64_t i = 0; i < n; ++i) sum += p[i] * w[i];
        d[s] = sum;
      }
      // distance2bbox, then back to centre form.
      const float* b = boxes + r * 4;
      const float sx = b[2] / rs, sy = b[3] / rs;
      const float x1 = b[0] - (0.5f * rs + d[0]) * sx, y1 = b[1] - (0.5f * rs + d[1]) * sy;
      const float x2 = b[0] + (0.5f * rs + d[2]) * sx, y2 = b[1] + (0.5f * rs + d[3]) * sy;
      float* o = out + r * 4;
      o[0] = (x1 + x2) * 0.5f;
      o[1] = (y1 + y2) * 0.5f;
      o[2] = x2 - x1;
      o[3] = y2 - y1;
    }
  });
}

void lqe_stat(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  const int64_t n = at.bins + 1, k = at.count, sides = a.in[0]->numel() / n;
  const float* corners = a.in[0]->f32();
  float* out = a.out.f32();
  a.pool->parallel_for(sides, 16, [&](int64_t s0, int64_t s1) {
    std::vector<float> p(static_cast<size_t>(n));
    std::vector<int32_t> order(static_cast<size_t>(n));
    for (int64_t s = s0; s < s1; ++s) {
      side_softmax(corners + s * n, n, p.data());
      // Greatest first, NaN above everything as torch.topk ranks it, ties
      // to the lower index: a strict total order, whatever the values.
      const auto key = [&](int32_t i) { return std::isnan(p[i]) ? INFINITY : p[i]; };
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t i, int32_t j) {
        return key(i) > key(j) || (key(i) == key(j) && i < j);
      });
      float* o = out + s * (k + 1);
      float sum = 0.f;
      for (int64_t j = 0; j < k; ++j) sum += o[j] = p[order[j]];
      o[k] = sum / float(k);
    }
  });
}

}  // namespace visionrt::cpu
