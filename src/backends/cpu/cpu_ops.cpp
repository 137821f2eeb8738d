// CPU element-wise, normalisation and projection ops (fp32).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/cpu/cpu_ops.hpp"
#include "backends/cpu/gemm.hpp"
#include "backends/cpu/isa/isa_kernels.hpp"
#include "core/half.hpp"
#include "core/thread_pool.hpp"

namespace visionrt::cpu {
namespace {


// Runs fn(begin, end) over [0, n) on the pool, in chunks of at least `grain`.
template <typename Fn>
void parallel(const KernelArgs& a, int64_t n, int64_t grain, Fn&& fn) {
  a.pool->parallel_for(n, grain, fn);
}

}  // namespace

float apply_activation(Activation act, float x) {
  switch (act) {
    case Activation::none: return x;
    case Activation::gelu_erf: return 0.5f * x * (1.f + std::erf(x * 0.70710678118654752f));
    case Activation::gelu_tanh: {
      const float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.f + std::tanh(inner));
    }
    case Activation::relu: return x > 0.f ? x : 0.f;
    case Activation::sigmoid: return 1.f / (1.f + std::exp(-x));
    case Activation::silu: return x * (1.f / (1.f + std::exp(-x)));
  }
  return x;
}

size_t patch_embed_workspace(const NodeSignature& sig, int) {
  const auto& in = sig.in_shapes;
  const graph::Attrs& attrs = sig.node->attrs;
  const Shape& x = *in[0];
  const int64_t p = attrs.patch;
  return static_cast<size_t>(x[0] * (x[2] / p) * (x[3] / p) * x[1] * p * p) * sizeof(float);
}

void patch_embed(const KernelArgs& a) {
  // im2col: each patch becomes one row of C*P*P values ordered as the
  // convolution weight [D, C, P, P], then one GEMM with the weight.
  const Tensor &x = *a.in[0], &w = *a.in[1], &b = *a.in[2];
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), P = a.node->attrs.patch;
  const int64_t gh = H / P, gw = W / P, T = gh * gw, D = w.dim(0), K = C * P * P;
  float* cols = static_cast<float*>(a.workspace);
  const float* src = x.f32();
  parallel(a, N * T, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / T, t = r % T, py = t / gw, px = t % gw;
      float* row = cols + r * K;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < P; ++i)
          std::memcpy(row + (c * P + i) * P, src + ((n * C + c) * H + py * P + i) * W + px * P,
                      P * sizeof(float));
    }
  });
  float* out = a.out.f32();
  gemm_nt(N * T, D, K, cols, K, w.f32(), K, out, D, a.pool);
  const float* bias = b.f32();
  parallel(a, N * T, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t d = 0; d < D; ++d) out[r * D + d] += bias[d];
  });
}

void embed_tokens(const KernelArgs& a) {
  const Tensor &tok = *a.in[0], &pos = *a.in[1];
  const int64_t N = tok.dim(0), T = tok.dim(1), D = tok.dim(2), P = a.in[2] ? a.in[2]->dim(1) : 0;
  const float *t = tok.f32(), *pre = P ? a.in[2]->f32() : nullptr, *p = pos.f32();
  float* out = a.out.f32();
  parallel(a, N * (P + T), 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / (P + T), s = r % (P + T);
      if (s < P) {
        std::memcpy(out + r * D, pre + s * D, D * sizeof(float));
        continue;
      }
      const float *src = t + (n * T + s - P) * D, *ps = p + (s - P) * D;
      for (int64_t d = 0; d < D; ++d) out[r * D + d] = src[d] + ps[d];
    }
  });
}

void layer_norm(const KernelArgs& a) { isa_kernels().layer_norm(a); }

void ms_deform_attn(const KernelArgs& a) { isa_kernels().ms_deform_attn(a); }

void apply_epilogue(const Epilogue& e, float* row, const float* bias, const float* res, int64_t n) {
  const IsaKernels& isa = isa_kernels();
  if (res && e.order == ResidualOrder::residual_then_act) {
    for (int64_t i = 0; i < n; ++i) row[i] += bias[i] + res[i];
    isa.activate(e.act, row, row, n);
  } else {
    for (int64_t i = 0; i < n; ++i) row[i] += bias[i];
    isa.activate(e.act, row, row, n);
    if (res)
      for (int64_t i = 0; i < n; ++i) row[i] += res[i];
  }
}

void linear(const KernelArgs& a) {
  const Tensor &x = *a.in[0], &w = *a.in[1];
  const int64_t K = x.dim(-1), M = x.numel() / K, N = w.dim(0);
  float* out = a.out.f32();
  gemm_nt(M, N, K, x.f32(), K, w.f32(), K, out, N, a.pool);
  const float* bias = a.in[2]->f32();
  const float* res = a.num_inputs > 3 ? a.in[3]->f32() : nullptr;
  parallel(a, M, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      apply_epilogue(a.node->attrs.epilogue, out + r * N, bias, res ? res + r * N : nullptr, N);
  });
}

void activation(const KernelArgs& a) {
  const float* x = a.in[0]->f32();
  float* out = a.out.f32();
  const Activation act = a.node->attrs.epilogue.act;
  const IsaKernels& isa = isa_kernels();
  parallel(a, a.out.numel(), 4096, [&](int64_t i0, int64_t i1) { isa.activate(act, x + i0, out + i0, i1 - i0); });
}

void add(const KernelArgs& a) {
  const float *x = a.in[0]->f32(), *y = a.in[1]->f32();
  float* out = a.out.f32();
  parallel(a, a.out.numel(), 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) out[i] = x[i] + y[i];
  });
}

void copy(const KernelArgs& a) { std::memcpy(a.out.data(), a.in[0]->data(), a.out.nbytes()); }

void expand(const KernelArgs& a) {
  const size_t bytes = a.in[0]->nbytes();
  for (int64_t i = 0; i < a.out.dim(0); ++i)
    std::memcpy(static_cast<char*>(a.out.data()) + i * bytes, a.in[0]->data(), bytes);
}

void zeros_like(const KernelArgs& a) { std::memset(a.out.data(), 0, a.out.nbytes()); }

void cast(const KernelArgs& a) {
  const DType from = a.in[0]->dtype(), to = a.out.dtype();
  const size_t in_size = dtype_size(from), out_size = dtype_size(to);
  parallel(a, a.out.numel(), 4096, [&](int64_t i0, int64_t i1) {
    convert_floats(static_cast<const char*>(a.in[0]->data()) + i0 * in_size, from,
            static_cast<char*>(a.out.data()) + i0 * out_size, to, i1 - i0);
  });
}

void mean_tokens(const KernelArgs& a) {
  // Each column summed in double: the mean of a few hundred tokens then
  // carries no more than float32's rounding of the result.
  const Tensor& x = *a.in[0];
  const int64_t N = x.dim(0), S = x.dim(1), D = x.dim(2), first = a.node->attrs.index;
  const float* src = x.f32();
  float* out = a.out.f32();
  parallel(a, N * D, 64, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t n = i / D, d = i % D;
      double sum = 0.0;
      for (int64_t s = first; s < S; ++s) sum += src[(n * S + s) * D + d];
      out[i] = static_cast<float>(sum / double(S - first));
    }
  });
}

void slice_tokens(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  const int64_t N = x.dim(0), S = x.dim(1), D = x.dim(2), first = a.node->attrs.index, count = a.node->attrs.count;
  for (int64_t n = 0; n < N; ++n)
    std::memcpy(a.out.f32() + n * count * D, x.f32() + (n * S + first) * D, size_t(count * D) * sizeof(float));
}

void select_token(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  const int64_t N = x.dim(0), S = x.dim(1), D = x.dim(2), idx = a.node->attrs.index;
  for (int64_t n = 0; n < N; ++n)
    std::memcpy(a.out.f32() + n * D, x.f32() + (n * S + idx) * D, D * sizeof(float));
}

}  // namespace visionrt::cpu
