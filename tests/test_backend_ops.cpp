// Every op on every backend against a plain double-precision reference,
// table-driven: one row per (op, shape, options) case. Each case runs as a
// one-node graph through the executor, so the op table, memory planner and
// backend binding are exercised too.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include "backends/cpu/gemm.hpp"
#include "api/registry.hpp"
#include "core/thread_pool.hpp"
#include "runtime/executor.hpp"

namespace visionrt {
namespace {

using graph::Attrs;
using graph::Op;

std::mt19937 rng(1234);

Tensor random_tensor(Shape shape, float lo = -1.f, float hi = 1.f) {
  Tensor t = Tensor::empty(DType::f32, std::move(shape));
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = d(rng);
  return t;
}

double act_ref(Activation a, double x) {
  switch (a) {
    case Activation::none: return x;
    case Activation::gelu_erf: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Activation::gelu_tanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case Activation::relu: return x > 0 ? x : 0;
    case Activation::sigmoid: return 1 / (1 + std::exp(-x));
  }
  return x;
}

struct Case {
  std::string name;
  Op op;
  Attrs attrs;
  std::vector<Tensor> inputs;  // graph inputs (activations) first, as listed in `weights`
  std::vector<bool> is_weight;
  std::function<std::vector<double>(const std::vector<Tensor>&)> reference;
};

std::vector<double> ref_linear(const std::vector<Tensor>& in, Activation act) {
  const Tensor &x = in[0], &w = in[1], &b = in[2];
  const int64_t K = x.dim(-1), M = x.numel() / K, N = w.dim(0);
  std::vector<double> out(M * N);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = b.f32()[n];
      for (int64_t k = 0; k < K; ++k) s += double(x.f32()[m * K + k]) * w.f32()[n * K + k];
      s = act_ref(act, s);
      if (in.size() > 3) s += in[3].f32()[m * N + n];
      out[m * N + n] = s;
    }
  return out;
}

Case linear_case(int64_t M, int64_t K, int64_t N, Activation act, bool residual) {
  Case c{"linear_" + std::to_string(M) + "x" + std::to_string(K) + "x" + std::to_string(N) +
             "_act" + std::to_string(int(act)) + (residual ? "_res" : ""),
         Op::linear, {}, {random_tensor({2, M / 2, K}), random_tensor({N, K}), random_tensor({N})},
         {false, true, true}, nullptr};
  c.attrs.epilogue.act = act;
  if (residual) {
    c.inputs.push_back(random_tensor({2, M / 2, N}));
    c.is_weight.push_back(false);
  }
  c.reference = [act](const std::vector<Tensor>& in) { return ref_linear(in, act); };
  return c;
}

std::vector<double> ref_attention(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor &q = in[0], &k = in[1], &v = in[2];
  const int64_t B = q.dim(0), Sq = q.dim(1), Sk = k.dim(1), H = a.heads, Dh = a.dim / H;
  std::vector<double> out(B * Sq * a.dim, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Sq; ++i) {
        std::vector<double> s(Sk);
        double mx = -INFINITY;
        bool any = false;
        for (int64_t j = 0; j < Sk; ++j) {
          if (in.size() > 3 && in[3].f32()[b * Sk + j] == 0.f) {
            s[j] = -INFINITY;
            continue;
          }
          any = true;
          double d = 0;
          for (int64_t e = 0; e < Dh; ++e)
            d += double(q.f32()[(b * Sq + i) * q.dim(2) + a.q_offset + h * Dh + e]) *
                 k.f32()[(b * Sk + j) * k.dim(2) + a.k_offset + h * Dh + e];
          s[j] = d / std::sqrt(double(Dh));
          mx = std::max(mx, s[j]);
        }
        if (!any) continue;  // fully masked: zeros
        double sum = 0;
        for (double& x : s) sum += x = std::exp(x - mx);
        for (int64_t j = 0; j < Sk; ++j)
          for (int64_t e = 0; e < Dh; ++e)
            out[(b * Sq + i) * a.dim + h * Dh + e] +=
                s[j] / sum * v.f32()[(b * Sk + j) * v.dim(2) + a.v_offset + h * Dh + e];
      }
  return out;
}

Case attention_case(int64_t B, int64_t Sq, int64_t Sk, int heads, int dh, bool fused_qkv, int mask_mode) {
  Attrs a;
  a.heads = heads;
  a.dim = heads * dh;
  Case c;
  c.name = "attention_B" + std::to_string(B) + "_Sq" + std::to_string(Sq) + "_Sk" + std::to_string(Sk) +
           "_H" + std::to_string(heads) + "_D" + std::to_string(dh) + (fused_qkv ? "_fused" : "") +
           "_mask" + std::to_string(mask_mode);
  c.op = Op::attention;
  if (fused_qkv) {
    Tensor qkv = random_tensor({B, Sq, 3 * a.dim}, -2.f, 2.f);
    a.k_offset = a.dim;
    a.v_offset = 2 * a.dim;
    c.inputs = {qkv, qkv, qkv};
  } else {
    // Row strides wider than the head columns, as when reading from a wider projection.
    c.inputs = {random_tensor({B, Sq, a.dim + 8}, -2.f, 2.f), random_tensor({B, Sk, a.dim}, -2.f, 2.f),
                random_tensor({B, Sk, a.dim + 4})};
    a.q_offset = 8;
    a.v_offset = 4;
  }
  c.is_weight = {false, false, false};
  if (mask_mode) {
    Tensor m = Tensor::empty(DType::f32, {B, Sk});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < Sk; ++j)  // 1: batch 0 keeps 2/3 of its keys; 2: batch 0 has none
        m.f32()[b * Sk + j] = b == 0 ? (mask_mode == 1 ? (j < Sk * 2 / 3) : 0.f) : 1.f;
    c.inputs.push_back(m);
    c.is_weight.push_back(false);
  }
  c.attrs = a;
  c.reference = [a](const std::vector<Tensor>& in) { return ref_attention(in, a); };
  return c;
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (auto [M, K, N] : {std::tuple{2, 3, 5}, {10, 64, 96}, {394, 128, 384}, {6, 257, 33}})
    for (Activation act : {Activation::none, Activation::gelu_erf, Activation::gelu_tanh, Activation::relu})
      cases.push_back(linear_case(M, K, N, act, act == Activation::none || M == 10));
  cases.push_back(attention_case(2, 197, 197, 3, 64, true, 0));
  cases.push_back(attention_case(1, 17, 17, 2, 32, true, 0));
  cases.push_back(attention_case(2, 10, 45, 2, 32, false, 1));
  cases.push_back(attention_case(2, 7, 13, 1, 32, false, 2));
  {
    Attrs a;
    a.eps = 1e-6f;
    for (int64_t D : {32, 768, 1000}) {
      // A large common offset checks the variance is taken around the mean.
      Case c{"layer_norm_D" + std::to_string(D), Op::layer_norm, a,
             {random_tensor({3, 5, D}, 90.f, 110.f), random_tensor({D}), random_tensor({D})},
             {false, true, true}, nullptr};
      c.reference = [eps = a.eps](const std::vector<Tensor>& in) {
        const int64_t D = in[0].dim(-1), R = in[0].numel() / D;
        std::vector<double> out(R * D);
        for (int64_t r = 0; r < R; ++r) {
          double m = 0, v = 0;
          for (int64_t d = 0; d < D; ++d) m += in[0].f32()[r * D + d];
          m /= D;
          for (int64_t d = 0; d < D; ++d) v += std::pow(in[0].f32()[r * D + d] - m, 2);
          v /= D;
          for (int64_t d = 0; d < D; ++d)
            out[r * D + d] = (in[0].f32()[r * D + d] - m) / std::sqrt(v + eps) * in[1].f32()[d] + in[2].f32()[d];
        }
        return out;
      };
      cases.push_back(c);
    }
  }
  for (auto [N, C, H, W, P, D] : {std::tuple{2, 3, 32, 48, 16, 24}, {1, 1, 30, 29, 7, 5}}) {
    Attrs a;
    a.patch = P;
    Case c{"patch_embed_" + std::to_string(H) + "x" + std::to_string(W) + "_P" + std::to_string(P),
           Op::patch_embed, a,
           {random_tensor({N, C, H, W}), random_tensor({D, C, P, P}), random_tensor({D})},
           {false, true, true}, nullptr};
    c.reference = [P = P](const std::vector<Tensor>& in) {
      const Tensor &x = in[0], &w = in[1];
      const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), D = w.dim(0);
      const int64_t gh = H / P, gw = W / P;
      std::vector<double> out;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t t = 0; t < gh * gw; ++t)
          for (int64_t d = 0; d < D; ++d) {
            double s = in[2].f32()[d];
            for (int64_t ch = 0; ch < C; ++ch)
              for (int64_t i = 0; i < P; ++i)
                for (int64_t j = 0; j < P; ++j)
                  s += double(x.f32()[((n * C + ch) * H + (t / gw) * P + i) * W + (t % gw) * P + j]) *
                       w.f32()[((d * C + ch) * P + i) * P + j];
            out.push_back(s);
          }
      return out;
    };
    cases.push_back(c);
  }
  {
    Case c{"embed_tokens", Op::embed_tokens, {},
           {random_tensor({2, 6, 8}), random_tensor({1, 1, 8}), random_tensor({1, 7, 8})},
           {false, true, true}, nullptr};
    c.reference = [](const std::vector<Tensor>& in) {
      std::vector<double> out;
      for (int n = 0; n < 2; ++n)
        for (int s = 0; s < 7; ++s)
          for (int d = 0; d < 8; ++d)
            out.push_back(double(s == 0 ? in[1].f32()[d] : in[0].f32()[(n * 6 + s - 1) * 8 + d]) +
                          in[2].f32()[s * 8 + d]);
      return out;
    };
    cases.push_back(c);
  }
  for (Activation act : {Activation::gelu_erf, Activation::gelu_tanh, Activation::relu, Activation::sigmoid}) {
    Attrs a;
    a.epilogue.act = act;
    Case c{"activation_" + std::to_string(int(act)), Op::activation, a, {random_tensor({3, 1001}, -6.f, 6.f)}, {false}, nullptr};
    c.reference = [act](const std::vector<Tensor>& in) {
      std::vector<double> out;
      for (int64_t i = 0; i < in[0].numel(); ++i) out.push_back(act_ref(act, in[0].f32()[i]));
      return out;
    };
    cases.push_back(c);
  }
  {
    Case c{"add", Op::add, {}, {random_tensor({4, 33}), random_tensor({4, 33})}, {false, false}, nullptr};
    c.reference = [](const std::vector<Tensor>& in) {
      std::vector<double> out;
      for (int64_t i = 0; i < in[0].numel(); ++i) out.push_back(double(in[0].f32()[i]) + in[1].f32()[i]);
      return out;
    };
    cases.push_back(c);
  }
  {
    Attrs a;
    a.index = 2;
    Case c{"select_token", Op::select_token, a, {random_tensor({3, 5, 7})}, {false}, nullptr};
    c.reference = [](const std::vector<Tensor>& in) {
      std::vector<double> out;
      for (int n = 0; n < 3; ++n)
        for (int d = 0; d < 7; ++d) out.push_back(in[0].f32()[(n * 5 + 2) * 7 + d]);
      return out;
    };
    cases.push_back(c);
  }
  for (auto [N, H, W, Ci, Co, k, stride, pad, dil, act, res] :
       {std::tuple{2, 9, 11, 3, 8, 7, 2, 3, 1, Activation::relu, false},
        {1, 6, 5, 16, 12, 1, 1, 0, 1, Activation::none, true},
        {2, 7, 7, 4, 6, 1, 2, 0, 1, Activation::none, false},
        {1, 8, 9, 5, 7, 3, 1, 2, 2, Activation::relu, true},
        {1, 10, 6, 3, 4, 3, 2, 1, 1, Activation::none, false}}) {
    Attrs a;
    // ResNet's order; linear cases check the other.
    a.epilogue.order = ResidualOrder::residual_then_act;
    a.stride = stride;
    a.pad = pad;
    a.dilation = dil;
    a.epilogue.act = act;
    const int64_t Ho = (H + 2 * pad - dil * (k - 1) - 1) / stride + 1, Wo = (W + 2 * pad - dil * (k - 1) - 1) / stride + 1;
    Case c{"conv2d_" + std::to_string(k) + "x" + std::to_string(k) + "_s" + std::to_string(stride) + "_d" +
               std::to_string(dil) + (res ? "_res" : ""),
           Op::conv2d, a, {random_tensor({N, H, W, Ci}), random_tensor({Co, k, k, Ci}), random_tensor({Co})},
           {false, true, true}, nullptr};
    if (res) {
      c.inputs.push_back(random_tensor({N, Ho, Wo, Co}));
      c.is_weight.push_back(false);
    }
    c.reference = [a, Ho, Wo](const std::vector<Tensor>& in) {
      const Tensor &x = in[0], &w = in[1];
      const int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), Ci = x.dim(3), Co = w.dim(0), k = w.dim(1);
      std::vector<double> out;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t oy = 0; oy < Ho; ++oy)
          for (int64_t ox = 0; ox < Wo; ++ox)
            for (int64_t co = 0; co < Co; ++co) {
              double s = in[2].f32()[co];
              for (int64_t ky = 0; ky < k; ++ky)
                for (int64_t kx = 0; kx < k; ++kx) {
                  const int64_t iy = oy * a.stride - a.pad + ky * a.dilation, ix = ox * a.stride - a.pad + kx * a.dilation;
                  if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                  for (int64_t ci = 0; ci < Ci; ++ci)
                    s += double(x.f32()[((n * H + iy) * W + ix) * Ci + ci]) * w.f32()[((co * k + ky) * k + kx) * Ci + ci];
                }
              const double r = in.size() > 3 ? in[3].f32()[((n * Ho + oy) * Wo + ox) * Co + co] : 0.0;
              out.push_back(a.epilogue.order == ResidualOrder::residual_then_act ? act_ref(a.epilogue.act, s + r)
                                                                             : act_ref(a.epilogue.act, s) + r);
            }
      return out;
    };
    cases.push_back(c);
  }
  {
    Attrs a;
    a.kernel = 3;
    a.stride = 2;
    a.pad = 1;
    Case c{"max_pool_3x3_s2", Op::max_pool, a, {random_tensor({2, 9, 8, 5})}, {false}, nullptr};
    c.reference = [](const std::vector<Tensor>& in) {
      const Tensor& x = in[0];
      std::vector<double> out;
      for (int n = 0; n < 2; ++n)
        for (int oy = 0; oy < 5; ++oy)
          for (int ox = 0; ox < 4; ++ox)
            for (int ch = 0; ch < 5; ++ch) {
              double m = -INFINITY;
              for (int iy = 2 * oy - 1; iy <= 2 * oy + 1; ++iy)
                for (int ix = 2 * ox - 1; ix <= 2 * ox + 1; ++ix)
                  if (iy >= 0 && iy < 9 && ix >= 0 && ix < 8) m = std::max<double>(m, x.f32()[((n * 9 + iy) * 8 + ix) * 5 + ch]);
              out.push_back(m);
            }
      return out;
    };
    cases.push_back(c);
  }
  {
    Case c{"nchw_to_nhwc", Op::nchw_to_nhwc, {}, {random_tensor({2, 3, 4, 5})}, {false}, nullptr};
    c.reference = [](const std::vector<Tensor>& in) {
      std::vector<double> out;
      for (int n = 0; n < 2; ++n)
        for (int y = 0; y < 4; ++y)
          for (int x = 0; x < 5; ++x)
            for (int ch = 0; ch < 3; ++ch) out.push_back(in[0].f32()[((n * 3 + ch) * 4 + y) * 5 + x]);
      return out;
    };
    cases.push_back(c);
  }
  {
    Case c{"flatten_spatial", Op::flatten_spatial, {}, {random_tensor({2, 3, 4, 5})}, {false}, nullptr};
    c.reference = [](const std::vector<Tensor>& in) {
      return std::vector<double>(in[0].f32(), in[0].f32() + in[0].numel());
    };
    cases.push_back(c);
  }
  // A padding mask: image 0 valid in its top-left 13x9 of 20x17, image 1 whole.
  auto padding_mask = [](int64_t H, int64_t W) {
    Tensor m = Tensor::empty(DType::f32, {2, H, W});
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        m.f32()[y * W + x] = (y < 13 && x < 9) ? 1.f : 0.f;
        m.f32()[H * W + y * W + x] = 1.f;
      }
    return m;
  };
  {
    Attrs a;
    a.out_h = 3;
    a.out_w = 5;
    Case c{"mask_resize", Op::mask_resize, a, {padding_mask(20, 17)}, {false}, nullptr};
    c.reference = [](const std::vector<Tensor>& in) {
      std::vector<double> out;
      for (int n = 0; n < 2; ++n)
        for (int y = 0; y < 3; ++y)
          for (int x = 0; x < 5; ++x)  // floor(y * 20/3), floor(x * 17/5)
            out.push_back(in[0].f32()[(n * 20 + y * 20 / 3) * 17 + x * 17 / 5]);
      return out;
    };
    cases.push_back(c);
  }
  {
    Attrs a;
    a.out_h = 4;
    a.out_w = 6;
    a.dim = 16;
    Tensor m = Tensor::empty(DType::f32, {2, 24});
    for (int i = 0; i < 24; ++i) {
      m.f32()[i] = (i / 6 < 3 && i % 6 < 4) ? 1.f : 0.f;
      m.f32()[24 + i] = 1.f;
    }
    Case c{"sine_position", Op::sine_position, a, {m}, {false}, nullptr};
    c.reference = [](const std::vector<Tensor>& in) {
      std::vector<double> out;
      const double two_pi = 2 * M_PI;
      for (int n = 0; n < 2; ++n)
        for (int y = 0; y < 4; ++y)
          for (int x = 0; x < 6; ++x) {
            const float* mk = in[0].f32() + n * 24;
            double ycum = 0, ylast = 0, xcum = 0, xlast = 0;
            for (int yy = 0; yy < 4; ++yy) (yy <= y ? ycum : ylast) += mk[yy * 6 + x];
            for (int xx = 0; xx < 6; ++xx) (xx <= x ? xcum : xlast) += mk[y * 6 + xx];
            ylast += ycum;
            xlast += xcum;
            const double ye = ycum / (ylast + 1e-6) * two_pi, xe = xcum / (xlast + 1e-6) * two_pi;
            for (int half = 0; half < 2; ++half)
              for (int ch = 0; ch < 8; ++ch) {
                const double v = (half ? xe : ye) / std::pow(10000.0, 2 * (ch / 2) / 8.0);
                out.push_back(ch % 2 ? std::cos(v) : std::sin(v));
              }
          }
      return out;
    };
    cases.push_back(c);
  }
  {
    Attrs a;
    a.count = 3;
    Case c{"expand", Op::expand, a, {random_tensor({5, 7})}, {true}, nullptr};
    c.reference = [](const std::vector<Tensor>& in) {
      std::vector<double> out;
      for (int n = 0; n < 3; ++n)
        for (int64_t i = 0; i < in[0].numel(); ++i) out.push_back(in[0].f32()[i]);
      return out;
    };
    cases.push_back(c);
  }
  {
    Case c{"zeros_like", Op::zeros_like, {}, {random_tensor({3, 9})}, {false}, nullptr};
    c.reference = [](const std::vector<Tensor>& in) { return std::vector<double>(in[0].numel(), 0.0); };
    cases.push_back(c);
  }
  for (auto [in_h, in_w, out_h, out_w] : {std::tuple{3, 4, 5, 2}, {4, 4, 4, 7}, {2, 3, 1, 1}}) {
    Attrs a;
    a.in_h = in_h;
    a.in_w = in_w;
    a.out_h = out_h;
    a.out_w = out_w;
    const int64_t D = 6;
    Case c{"resample_position_" + std::to_string(out_h) + "x" + std::to_string(out_w), Op::resample_position, a,
           {random_tensor({1, 1 + int64_t(in_h) * in_w, D})}, {true}, nullptr};
    // PyTorch's bicubic (A = -0.75, align_corners=False, borders clamped).
    c.reference = [a, D](const std::vector<Tensor>& in) {
      auto cubic = [](double t, double w[4]) {
        const double A = -0.75;
        auto near = [A](double x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
        auto far = [A](double x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
        w[0] = far(t + 1), w[1] = near(t), w[2] = near(1 - t), w[3] = far(2 - t);
      };
      const float* p = in[0].f32();
      std::vector<double> out(p, p + D);
      for (int oy = 0; oy < a.out_h; ++oy)
        for (int ox = 0; ox < a.out_w; ++ox)
          for (int64_t d = 0; d < D; ++d) {
            const double fy = double(a.in_h) / a.out_h * (oy + 0.5) - 0.5, fx = double(a.in_w) / a.out_w * (ox + 0.5) - 0.5;
            const int iy = int(std::floor(fy)), ix = int(std::floor(fx));
            double wy[4], wx[4];
            cubic(fy - iy, wy);
            cubic(fx - ix, wx);
            double acc = 0;
            for (int i = 0; i < 4; ++i)
              for (int j = 0; j < 4; ++j) {
                const int y = std::clamp(iy - 1 + i, 0, a.in_h - 1), x = std::clamp(ix - 1 + j, 0, a.in_w - 1);
                acc += wy[i] * wx[j] * p[(1 + y * a.in_w + x) * D + d];
              }
            out.push_back(acc);
          }
      return out;
    };
    cases.push_back(c);
  }
  return cases;
}

struct BackendCase {
  std::string name;
  std::function<std::shared_ptr<Backend>()> make;
};

std::vector<BackendCase> backends() {
  std::vector<BackendCase> b = {{"cpu", [] { return make_cpu_backend(0); }},
                                {"cpu_1thread", [] { return make_cpu_backend(1); }}};
  if (cuda_backend_usable()) b.push_back({"cuda", [] { return choose_backend(Device::cuda, 0, Precision::fp32).backend; }});
  return b;
}

// fp32 against a double reference: every op here sums at most ~1000
// products or exponentials per output, whose float rounding stays below
// ~1e-6 relative in practice; 2e-5 of the output scale leaves a margin
// without hiding a wrong index or a missing term (those err by O(1)).
constexpr double kTolerance = 2e-5;

TEST(BackendOpsTest, EveryOpOnEveryBackendMatchesReference) {
  const auto cases = all_cases();
  for (const BackendCase& bc : backends()) {
    auto backend = bc.make();
    for (const Case& c : cases) {
      SCOPED_TRACE(bc.name + " / " + c.name);
      graph::Graph g;
      std::vector<int> ids;
      std::vector<Tensor> feeds;
      for (size_t i = 0; i < c.inputs.size(); ++i) {
        // An input fed twice (fused QKV) is one graph value.
        int id = -1;
        for (size_t j = 0; j < i; ++j)
          if (c.inputs[j].data() == c.inputs[i].data()) id = ids[j];
        if (id < 0) {
          id = c.is_weight[i] ? g.add_weight("w" + std::to_string(i), c.inputs[i])
                              : g.add_input("x" + std::to_string(i), c.inputs[i].shape());
          if (!c.is_weight[i]) feeds.push_back(c.inputs[i]);
        }
        ids.push_back(id);
      }
      const int out = g.add(c.op, ids, c.attrs);
      g.mark_output(out);
      graph::Executor ex(std::move(g), backend);
      const Shape out_shape = ex.graph().value(out).shape;
      std::vector<float> got(shape_numel(out_shape), NAN);  // poisoned: unwritten shows
      ex.run(feeds, {Tensor::view(DType::f32, out_shape, got.data())});
      const std::vector<double> want = c.reference(c.inputs);
      ASSERT_EQ(want.size(), got.size());
      double scale = 1.0, err = 0.0;
      for (double w : want) scale = std::max(scale, std::abs(w));
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_TRUE(std::isfinite(got[i])) << "element " << i;
        err = std::max(err, std::abs(got[i] - want[i]));
      }
      EXPECT_LE(err / scale, kTolerance) << "max abs error " << err << " at scale " << scale;
    }
  }
}

TEST(BackendOpsTest, BlockedGemmMatchesReference) {
  ThreadPool pool(2);
  for (auto [M, N, K] : {std::tuple{1, 1, 1}, {5, 7, 9}, {64, 130, 257}, {3, 200, 16}}) {
    Tensor a = random_tensor({M, K}), b = random_tensor({N, K});
    std::vector<float> c(M * N, NAN);
    cpu::gemm_nt_blocked(M, N, K, a.f32(), K, b.f32(), K, c.data(), N, &pool);
    double err = 0;
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) {
        double s = 0;
        for (int k = 0; k < K; ++k) s += double(a.f32()[m * K + k]) * b.f32()[n * K + k];
        err = std::max(err, std::abs(s - c[m * N + n]));
      }
    EXPECT_LE(err, 1e-5 * std::sqrt(double(K))) << M << "x" << N << "x" << K;
  }
}

TEST(BackendOpsTest, ShapeRulesRejectMismatchedInputs) {
  graph::Graph g;
  const int x = g.add_input("x", {2, 5, 8});
  const int w = g.add_weight("w", random_tensor({4, 7}));
  const int b = g.add_weight("b", random_tensor({4}));
  try {
    g.add(Op::linear, {x, w, b});
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::shape_mismatch);
    EXPECT_NE(std::string(e.what()).find("[2, 5, 8]"), std::string::npos) << e.what();
  }
}

TEST(BackendOpsTest, PlannerReusesMemory) {
  // A chain of adds: each intermediate dies after its consumer, so the arena
  // needs room for a few buffers, not one per node.
  graph::Graph g;
  int h = g.add_input("x", {256, 256});
  const int y = g.add_input("y", {256, 256});
  for (int i = 0; i < 20; ++i) h = g.add(Op::add, {h, y});
  g.mark_output(h);
  const graph::MemoryPlan plan = graph::plan_memory(g, std::vector<size_t>(g.nodes().size(), 0));
  EXPECT_LE(plan.arena_bytes, 4u * 256 * 256 * sizeof(float));
}

}  // namespace
}  // namespace visionrt
