// The CPU kernels built per instruction set: every path this CPU supports
// is forced in turn and compared with the plain scalar kernel, on shapes
// that exercise the tiles' edges (keys past a tile, rows past a block,
// masked and fully masked keys, head widths of every vector width).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <algorithm>
#include <random>
#include <vector>

#include "backends/cpu/cpu_attention.hpp"
#include "backends/cpu/cpu_ops.hpp"
#include "backends/cpu/isa/isa_kernels.hpp"
#include "graph/graph.hpp"
#include "core/thread_pool.hpp"
#include "reference/op_reference.hpp"

namespace visionrt::cpu {
namespace {

struct AttentionCase {
  int B, Sq, Sk, heads, head_dim;
  bool fused_qkv, masked;  // fused: Q, K and V columns of one [B, S, 3D] source (Sq == Sk)
};

struct AttentionRun {
  std::vector<float> out;
  std::vector<double> reference;  // the same attention in double
};

AttentionRun run(const AttentionCase& c, const AttentionPath& path, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  const int D = c.heads * c.head_dim;
  graph::Node node{graph::Op::attention, {}, 0, {}};
  node.attrs.heads = c.heads;
  node.attrs.dim = D;
  // Fused: one [B, S, 3D] source read at three column offsets, as ViT's QKV.
  const int width = c.fused_qkv ? 3 * D : D;
  if (c.fused_qkv) {
    node.attrs.k_offset = D;
    node.attrs.v_offset = 2 * D;
  }
  auto random = [&](int64_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = 2.f * normal(rng);  // wide scores test the running maximum
    return v;
  };
  std::vector<float> qd = random(int64_t(c.B) * c.Sq * width), kd = c.fused_qkv ? qd : random(int64_t(c.B) * c.Sk * width),
                     vd = c.fused_qkv ? qd : random(int64_t(c.B) * c.Sk * width), md(int64_t(c.B) * c.Sk, 1.f);
  if (c.masked) {
    for (int j = c.Sk / 2; j < c.Sk; ++j) md[j] = 0.f;           // image 0: its second half is padding
    if (c.B > 1) std::fill(md.begin() + c.Sk, md.end(), 0.f);    // image 1: all padding
  }
  const Tensor q = Tensor::view(DType::f32, {c.B, c.Sq, width}, qd.data());
  const Tensor k = Tensor::view(DType::f32, {c.B, c.Sk, width}, kd.data());
  const Tensor v = Tensor::view(DType::f32, {c.B, c.Sk, width}, vd.data());
  const Tensor m = Tensor::view(DType::f32, {c.B, c.Sk}, md.data());
  std::vector<float> out(int64_t(c.B) * c.Sq * D, NAN);
  ThreadPool pool(2);
  NodeSignature sig;
  sig.node = &node;
  sig.in_shapes = {&q.shape(), &k.shape(), &v.shape()};
  std::vector<float> workspace(attention_workspace(sig, pool.size()) / sizeof(float));
  KernelArgs a;
  a.node = &node;
  a.in[0] = &q;
  a.in[1] = &k;
  a.in[2] = &v;
  a.in[3] = c.masked ? &m : nullptr;
  a.num_inputs = c.masked ? 4 : 3;
  a.out = Tensor::view(DType::f32, {c.B, c.Sq, D}, out.data());
  a.workspace = workspace.data();
  a.workspace_bytes = workspace.size() * sizeof(float);
  a.pool = &pool;
  attention_on(path, a);

  std::vector<double> ref(out.size(), 0.0);
  const float *Q = qd.data(), *K = kd.data() + node.attrs.k_offset, *V = vd.data() + node.attrs.v_offset;
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < c.heads; ++h)
      for (int i = 0; i < c.Sq; ++i) {
        std::vector<double> p(c.Sk, 0.0);
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < c.Sk; ++j) {
          if (c.masked && md[b * c.Sk + j] == 0.f) continue;
          double dot = 0;
          for (int d = 0; d < c.head_dim; ++d)
            dot += double(Q[(int64_t(b) * c.Sq + i) * width + h * c.head_dim + d]) *
                   K[(int64_t(b) * c.Sk + j) * width + h * c.head_dim + d];
          p[j] = dot / std::sqrt(double(c.head_dim));
          mx = std::max(mx, p[j]);
        }
        if (mx == -INFINITY) continue;  // every key masked: zeros
        for (int j = 0; j < c.Sk; ++j) {
          const bool keep = !(c.masked && md[b * c.Sk + j] == 0.f);
          p[j] = keep ? std::exp(p[j] - mx) : 0.0;
          sum += p[j];
        }
        for (int j = 0; j < c.Sk; ++j)
          for (int d = 0; d < c.head_dim; ++d)
            ref[(int64_t(b) * c.Sq + i) * D + h * c.head_dim + d] +=
                p[j] / sum * V[(int64_t(b) * c.Sk + j) * width + h * c.head_dim + d];
      }
  return {out, ref};
}

TEST(CpuIsaTest, EveryAttentionPathMatchesTheScalarKernel) {
  const std::vector<AttentionCase> cases = {
      {1, 197, 197, 12, 64, true, false},  // ViT-B/16
      {2, 100, 850, 8, 32, false, true},   // DETR cross-attention over a padded batch
      {1, 70, 70, 2, 16, true, true},      // rows and keys past a block and a tile
      {1, 5, 3, 3, 80, false, false},      // ViT-H/14's head width, fewer keys than a tile
      {1, 129, 129, 1, 128, true, false},
      {1, 9, 17, 2, 8, false, true},       // a head narrower than an AVX-512 vector
  };
  // Against float64: each output is a convex combination of values of
  // scale ~2 with weights from up to ~1000 float exponentials and sums; as
  // in BackendOpsTest, 2e-5 of the output scale bounds float rounding with
  // margin while a lost key, a wrong tile or a stale maximum errs by O(1).
  auto max_error = [](const AttentionRun& r) -> double {
    double err = 0, scale = 1;
    for (size_t i = 0; i < r.out.size(); ++i) {
      if (!std::isfinite(r.out[i])) return HUGE_VAL;
      err = std::max(err, std::abs(r.out[i] - r.reference[i]));
      scale = std::max(scale, std::abs(r.reference[i]));
    }
    return err / scale;
  };
  int compared = 0;
  for (const AttentionCase& c : cases) {
    const double scalar = max_error(run(c, {Isa::portable, true}, 7));
    EXPECT_LE(scalar, 2e-5);
    for (Isa isa : {Isa::portable, Isa::avx2, Isa::avx512}) {
      if (!isa_supported(isa) || c.head_dim % isa_width(isa) != 0) continue;
      SCOPED_TRACE(std::string(isa_name(isa)) + " B=" + std::to_string(c.B) + " Sq=" + std::to_string(c.Sq) +
                   " Sk=" + std::to_string(c.Sk) + " Dh=" + std::to_string(c.head_dim));
      const double tiled = max_error(run(c, {isa, false}, 7));
      EXPECT_LE(tiled, 2e-5);
      std::printf("attention Dh=%d Sq=%d Sk=%d: relative error %s %.3g, scalar %.3g\n", c.head_dim, c.Sq, c.Sk,
                  isa_name(isa), tiled, scalar);
      ++compared;
    }
  }
  std::printf("best ISA on this CPU: %s; %d comparisons\n", isa_name(best_isa()), compared);
  EXPECT_GE(compared, static_cast<int>(cases.size()));
}

TEST(CpuIsaTest, EveryLayerNormPathMatchesFloat64) {
  // Rows offset by 100 with unit spread, as residual streams drift: the
  // float mean of such a row errs by about D * 2^-24 * 100 / (partial sums),
  // ~1e-5 of the unit-scale outputs at D = 4104; 1e-4 leaves margin and
  // catches a lost column or a wrong tail (errors of O(1)).
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  ThreadPool pool(2);
  int compared = 0;
  for (int64_t D : {768, 770, 33, 4104, 8}) {
    const int64_t rows = 37;
    std::vector<float> x(rows * D), g(D), b(D), out(rows * D);
    for (float& v : x) v = 100.f + normal(rng);
    for (float& v : g) v = 1.f + 0.1f * normal(rng);
    for (float& v : b) v = normal(rng);
    const Tensor tx = Tensor::view(DType::f32, {rows, D}, x.data()), tg = Tensor::view(DType::f32, {D}, g.data()),
                 tb = Tensor::view(DType::f32, {D}, b.data());
    graph::Node node{graph::Op::layer_norm, {}, 0, {}};
    node.attrs.eps = 1e-6f;
    KernelArgs a;
    a.node = &node;
    a.in[0] = &tx;
    a.in[1] = &tg;
    a.in[2] = &tb;
    a.num_inputs = 3;
    a.out = Tensor::view(DType::f32, {rows, D}, out.data());
    a.pool = &pool;
    for (Isa isa : {Isa::portable, Isa::avx2, Isa::avx512}) {
      if (!isa_supported(isa)) continue;
      std::fill(out.begin(), out.end(), NAN);
      isa_kernels(isa).layer_norm(a);
      double err = 0;
      for (int64_t r = 0; r < rows; ++r) {
        double mean = 0, var = 0;
        for (int64_t d = 0; d < D; ++d) mean += x[r * D + d];
        mean /= D;
        for (int64_t d = 0; d < D; ++d) var += (x[r * D + d] - mean) * (x[r * D + d] - mean);
        const double inv = 1 / std::sqrt(var / D + 1e-6);
        for (int64_t d = 0; d < D; ++d) {
          const double want = (x[r * D + d] - mean) * inv * g[d] + b[d];
          err = std::max(err, std::isfinite(out[r * D + d]) ? std::abs(out[r * D + d] - want) : HUGE_VAL);
        }
      }
      EXPECT_LE(err, 1e-4) << isa_name(isa) << " D=" << D;
      std::printf("layer_norm %s D=%ld: max abs error %.3g\n", isa_name(isa), long(D), err);
      ++compared;
    }
  }
  EXPECT_GE(compared, 5);
}

// Deformable attention on every ISA path against the double reference:
// head widths around the vector widths (5, 16, 33), both samplers, and
// locations inside, past the borders, NaN and huge. Each output sums at
// most 4 taps of each of 9 points, all of order 1, in float: 1e-5 of the
// output scale is about 100 ulp, while a wrong tap or weight errs by O(1).
TEST(CpuIsaTest, DeformableAttentionOnEveryPathMatchesReference) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> unit(0.f, 1.f), wide(-0.2f, 1.2f), value(-1.f, 1.f);
  ThreadPool pool(2);
  int compared = 0;
  for (const int head_dim : {5, 16, 33})
    for (const bool discrete : {false, true})
      for (const bool from_boxes : {false, true}) {  // RT-DETR's form: offsets around boxes, weight logits
      reference::DeformShape s;
      s.batch = 2;
      s.queries = 3;
      s.heads = 2;
      s.head_dim = head_dim;
      s.level_h = {6, 1, 3};
      s.level_w = {5, 1, 7};
      s.level_points = {4, 2, 3};
      s.discrete = discrete;
      const int64_t D = s.heads * head_dim, cells = 6 * 5 + 1 + 3 * 7, P = 9;
      std::vector<float> v(size_t(s.batch * cells * D)), loc(size_t(s.batch * s.queries * s.heads * P * 2)),
          w(size_t(s.batch * s.queries * s.heads * P)), out(size_t(s.batch * s.queries * D));
      for (float& x : v) x = value(rng);
      for (float& x : loc) x = wide(rng);
      for (float& x : w) x = unit(rng);
      loc[0] = NAN;
      loc[3] = 1e30f;
      loc[4] = -1e30f;
      graph::Node node{graph::Op::ms_deform_attn, {}, 0, {}};
      node.attrs.heads = int(s.heads);
      node.attrs.dim = int(D);
      node.attrs.levels = 3;
      node.attrs.discrete = discrete;
      node.attrs.offset_scale = 0.5f;
      std::vector<float> boxes(size_t(s.batch * s.queries * 4));
      for (float& x : boxes) x = 0.05f + 0.9f * unit(rng);
      for (int l = 0; l < 3; ++l) {
        node.attrs.level_h[l] = int(s.level_h[l]);
        node.attrs.level_w[l] = int(s.level_w[l]);
        node.attrs.level_points[l] = int(s.level_points[l]);
      }
      const Tensor tv = Tensor::view(DType::f32, {s.batch, cells, D}, v.data()),
                   tl = Tensor::view(DType::f32, {s.batch, s.queries, s.heads * P * 2}, loc.data()),
                   tw = Tensor::view(DType::f32, {s.batch, s.queries, s.heads * P}, w.data());
      KernelArgs a;
      a.node = &node;
      a.in[0] = &tv;
      a.in[1] = &tl;
      a.in[2] = &tw;
      a.num_inputs = 3;
      const Tensor tb = Tensor::view(DType::f32, {s.batch, s.queries, 4}, boxes.data());
      if (from_boxes) {
        a.in[3] = &tb;
        a.num_inputs = 4;
      }
      a.out = Tensor::view(DType::f32, {s.batch, s.queries, D}, out.data());
      a.pool = &pool;
      const std::vector<double> dv(v.begin(), v.end()), dl(loc.begin(), loc.end()), dw(w.begin(), w.end());
      const std::vector<double> want =
          from_boxes ? reference::ms_deform_attn_from_boxes(s, 0.5, dv, dl, dw, std::vector<double>(boxes.begin(), boxes.end()))
                     : reference::ms_deform_attn(s, dv, dl, dw);
      double scale = 1;
      for (double x : want) scale = std::max(scale, std::abs(x));
      for (Isa isa : {Isa::portable, Isa::avx2, Isa::avx512}) {
        if (!isa_supported(isa)) continue;
        std::fill(out.begin(), out.end(), NAN);
        isa_kernels(isa).ms_deform_attn(a);
        double err = 0;
        for (size_t i = 0; i < out.size(); ++i)
          err = std::max(err, std::isfinite(out[i]) ? std::abs(out[i] - want[i]) : HUGE_VAL);
        EXPECT_LE(err / scale, 1e-5) << isa_name(isa) << " head_dim " << head_dim << (discrete ? " discrete" : "")
                                     << (from_boxes ? " from boxes" : "");
        std::printf("ms_deform_attn %s head_dim %d %s%s: max abs error %.3g at scale %.3g\n", isa_name(isa), head_dim,
                    discrete ? "discrete" : "bilinear", from_boxes ? " from boxes" : "", err, scale);
        ++compared;
      }
    }
  EXPECT_GE(compared, 12);
}

TEST(CpuIsaTest, EveryActivationPathMatchesFloat64) {
  // Float rounding and exp_v's ulp err by a few ulp of the result: 1e-6
  // (1 + |result|). erf to 1.5e-7 (Abramowitz and Stegun 7.1.26) adds at
  // most 0.75e-7 |x| to erf-GELU, and only while its exp(-x^2) term is not
  // zero in float (|x| < 14): 1e-7 min(|x|, 16) covers it. The bound follows
  // the result, not the input, so a wrong tail at +-1e30 (a sigmoid of 1
  // where 0 is due) errs by O(1) against a bound of about 3e-6.
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> x(1037);  // a tail past every vector width
  for (float& v : x) v = 4.f * normal(rng);
  const float extremes[] = {0.f, -0.f, 1e-20f, -1e-20f, 9.f, -9.f, 50.f, -50.f, 100.f, -100.f, 1e30f, -1e30f};
  std::copy(std::begin(extremes), std::end(extremes), x.begin());
  auto reference = [](Activation act, double v) {
    switch (act) {
      case Activation::gelu_erf: return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
      case Activation::gelu_tanh:
        return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
      case Activation::relu: return v > 0 ? v : 0.0;
      case Activation::sigmoid: return 1 / (1 + std::exp(-v));
      case Activation::silu: return v / (1 + std::exp(-v));
      case Activation::none: break;
    }
    return v;
  };
  int compared = 0;
  for (Activation act : {Activation::none, Activation::gelu_erf, Activation::gelu_tanh,
                                Activation::relu, Activation::sigmoid, Activation::silu})
    for (Isa isa : {Isa::portable, Isa::avx2, Isa::avx512}) {
      if (!isa_supported(isa)) continue;
      std::vector<float> out(x.size(), NAN);
      isa_kernels(isa).activate(act, x.data(), out.data(), int64_t(x.size()));
      double worst = 0;  // error over its bound
      for (size_t i = 0; i < x.size(); ++i) {
        const double want = reference(act, x[i]);
        const double bound = 1e-6 * (1 + std::abs(want)) + 1e-7 * std::min(std::abs(double(x[i])), 16.0);
        const double err = std::isfinite(out[i]) ? std::abs(out[i] - want) : HUGE_VAL;
        worst = std::max(worst, err / bound);
      }
      EXPECT_LE(worst, 1.0) << isa_name(isa) << " activation " << int(act);
      ++compared;
    }
  EXPECT_GE(compared, 5);
}

TEST(CpuIsaTest, EverySineChannelPathMatchesFloat64) {
  // DETR's positions: p in [0, 2 pi] over divisors 10000^(2i/F); the float
  // quotient as the reference computes it, its sin and cos to about 1 ulp
  // of 1 (Cephes' float polynomials): 1e-6 leaves margin, while swapped sin
  // and cos or a wrong quadrant err by O(1).
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> position(0.f, 6.2831855f);
  int compared = 0;
  for (int64_t F : {128, 13, 64}) {
    std::vector<float> divisor(F);
    for (int64_t i = 0; i < F; ++i) divisor[i] = std::pow(10000.f, float(2 * (i / 2)) / float(F));
    for (Isa isa : {Isa::portable, Isa::avx2, Isa::avx512}) {
      if (!isa_supported(isa)) continue;
      double worst = 0;
      for (int trial = 0; trial < 200; ++trial) {
        const float p = trial == 0 ? 0.f : trial == 1 ? 6.2831855f : position(rng);
        std::vector<float> out(F, NAN);
        isa_kernels(isa).sine_channels(p, divisor.data(), F, out.data());
        for (int64_t c = 0; c < F; ++c) {
          const double q = p / divisor[c];  // float division, as the reference
          const double want = c % 2 ? std::cos(double(float(q))) : std::sin(double(float(q)));
          worst = std::max(worst, std::isfinite(out[c]) ? std::abs(out[c] - want) : HUGE_VAL);
        }
      }
      EXPECT_LE(worst, 1e-6) << isa_name(isa) << " F=" << F;
      std::printf("sine channels %s F=%ld: max abs error %.3g\n", isa_name(isa), long(F), worst);
      ++compared;
    }
  }
  EXPECT_GE(compared, 3);
}

TEST(CpuIsaTest, EveryResamplePathGivesPillowsIntegerSums) {
  // Integer arithmetic: every path must give exactly the scalar sums,
  // including negative lobes (clipped to 0), sums above 255 (clipped) and
  // rows whose width leaves a tail.
  std::mt19937 rng(4);
  std::uniform_int_distribution<int> byte(0, 255), weight(-(1 << 20), 3 << 20);
  int compared = 0;
  for (size_t n : {size_t(1281), size_t(17), size_t(64), size_t(3)})
    for (int taps : {1, 3, 13}) {
      const size_t stride = n + 5;
      std::vector<uint8_t> src(stride * taps);
      for (uint8_t& b : src) b = static_cast<uint8_t>(byte(rng));
      std::vector<int32_t> k(taps);
      // Scaled by the taps so that every sum fits in an int32, as it does
      // for Pillow's weights (255 * sum |k| stays under 1.61e9 here), while
      // still reaching the clipping above 255.
      for (int32_t& w : k) w = weight(rng) * 2 / taps;
      std::vector<uint8_t> want(n);
      for (size_t i = 0; i < n; ++i) {
        int32_t s = 1 << (kResampleBits - 1);
        for (int y = 0; y < taps; ++y) s += src[y * stride + i] * k[y];
        want[i] = static_cast<uint8_t>(s < 0 ? 0 : std::min(s >> kResampleBits, 255));
      }
      for (Isa isa : {Isa::portable, Isa::avx2, Isa::avx512}) {
        if (!isa_supported(isa)) continue;
        std::vector<uint8_t> out(n);
        isa_kernels(isa).resample_vertical_row(src.data(), stride, k.data(), taps, out.data(), n);
        EXPECT_EQ(out, want) << isa_name(isa) << " n=" << n << " taps=" << taps;
        ++compared;
      }
    }
  EXPECT_GE(compared, 12);
}

}  // namespace
}  // namespace visionrt::cpu
