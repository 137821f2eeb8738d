// Multi-head attention on the CPU: softmax(Q K^T * scale + mask) V per
// (batch, head), reading Q, K and V in place from their source rows (a fused
// QKV projection, or separate ones), so no head split or transpose is copied.
// The tiled kernel (isa/attention_tiled.inc) runs whenever a vector width
// divides the head width; the scalar one here otherwise, and in tests.
#include "backends/cpu/cpu_attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/cpu_ops.hpp"
#include "backends/cpu/isa/isa_kernels.hpp"
#include "core/thread_pool.hpp"

namespace visionrt::cpu {

namespace {
// Queries the scalar kernel scores together.
constexpr int64_t kQueryBlock = 8;

}  // namespace

AttentionPath attention_path(int64_t head_dim, Isa widest) {
  for (Isa isa : {Isa::avx512, Isa::avx2, Isa::portable})
    if (static_cast<int>(isa) <= static_cast<int>(widest) && isa_supported(isa) && head_dim % isa_width(isa) == 0)
      return {isa, false};
  return {Isa::portable, true};
}

size_t attention_workspace(const NodeSignature& sig, int threads) {
  const graph::Attrs& at = sig.node->attrs;
  const int64_t sk = (*sig.in_shapes[1])[1], head_dim = at.dim / at.heads;
  // Room for whichever path a test may force.
  size_t floats = kQueryBlock * sk;
  for (Isa isa : {Isa::avx512, Isa::avx2, Isa::portable})
    floats = std::max(floats, isa_kernels(isa).attention_tiled_scratch_floats(head_dim, sk));
  return static_cast<size_t>(threads) * floats * sizeof(float);
}

void attention_on(const AttentionPath& path, const KernelArgs& a) {
  if (path.scalar) return attention_scalar(a);
  isa_kernels(path.isa).attention_tiled(a);
}

void attention(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  attention_on(attention_path(at.dim / at.heads, best_isa()), a);
}

void attention_scalar(const KernelArgs& a) {
  const Tensor &q = *a.in[0], &k = *a.in[1], &v = *a.in[2];
  const Tensor* mask = a.num_inputs > 3 ? a.in[3] : nullptr;
  const graph::Attrs& at = a.node->attrs;
  const int64_t B = q.dim(0), Sq = q.dim(1), Sk = k.dim(1), H = at.heads, Dh = at.dim / at.heads;
  const int64_t qs = q.dim(2), ks = k.dim(2), vs = v.dim(2), D = at.dim;
  const float scale = 1.f / std::sqrt(static_cast<float>(Dh));
  const float *Q = q.f32() + at.q_offset, *K = k.f32() + at.k_offset, *V = v.f32() + at.v_offset;
  float* out = a.out.f32();
  const int64_t qblocks = (Sq + kQueryBlock - 1) / kQueryBlock;
  // Work items are (batch, head, query block); each thread scores into its
  // own slice of the planned scratch memory.
  a.pool->parallel_for(B * H * qblocks, 1, [&](int64_t i0, int64_t i1) {
    float* scores = static_cast<float*>(a.workspace) +
                    static_cast<int64_t>(ThreadPool::worker_index()) * kQueryBlock * Sk;
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t b = item / (H * qblocks), h = (item / qblocks) % H, qb = item % qblocks;
      const int64_t q0 = qb * kQueryBlock, q1 = std::min(Sq, q0 + kQueryBlock);
      const float* mrow = mask ? mask->f32() + b * Sk : nullptr;
      for (int64_t i = q0; i < q1; ++i) {
        const float* qi = Q + (b * Sq + i) * qs + h * Dh;
        float* s = scores + (i - q0) * Sk;
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < Sk; ++j) {
          if (mrow && mrow[j] == 0.f) {
            s[j] = -std::numeric_limits<float>::infinity();
            continue;
          }
          const float* kj = K + (b * Sk + j) * ks + h * Dh;
          float dot = 0.f;
          for (int64_t d = 0; d < Dh; ++d) dot += qi[d] * kj[d];
          s[j] = dot * scale;
          mx = std::max(mx, s[j]);
        }
        float* o = out + (b * Sq + i) * D + h * Dh;
        std::fill(o, o + Dh, 0.f);
        // A fully masked row has no key to attend to; it outputs zeros
        // rather than the NaN a naive softmax would give.
        if (mx == -std::numeric_limits<float>::infinity()) continue;
        float sum = 0.f;
        for (int64_t j = 0; j < Sk; ++j) {
          s[j] = std::exp(s[j] - mx);
          sum += s[j];
        }
        const float inv = 1.f / sum;
        for (int64_t j = 0; j < Sk; ++j) {
          const float p = s[j] * inv;
          if (p == 0.f) continue;
          const float* vj = V + (b * Sk + j) * vs + h * Dh;
          for (int64_t d = 0; d < Dh; ++d) o[d] += p * vj[d];
        }
      }
    }
  });
}

}  // namespace visionrt::cpu
