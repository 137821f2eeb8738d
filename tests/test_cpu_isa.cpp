// The CPU kernels built per instruction set: every path this CPU supports
// is forced in turn and compared with the plain scalar kernel, on shapes
// that exercise the tiles' edges (keys past a tile, rows past a block,
// masked and fully masked keys, head widths of every vector width).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "backends/cpu/cpu_attention.hpp"
#include "backends/cpu/cpu_ops.hpp"
#include "graph/graph.hpp"
#include "core/thread_pool.hpp"

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
      layer_norm_on(isa, a);
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

}  // namespace
}  // namespace visionrt::cpu
