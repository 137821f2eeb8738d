// Fused attention kernel against the double-precision reference: f32, f16 and
// bf16, head dims 8 to 128 (each tile width, and heads narrower than their
// tile), head dims the generic kernel runs (3, 5, 12, 20, 136, 256, and
// rows that are not 16-byte aligned), fused-QKV and strided separate inputs,
// sequence tails, key-padding masks including fully padded batches and a
// fully padded first key tile, logits near +-50, NaN and Inf in the K and V
// rows of padded keys, an output row stride whose gap must stay untouched,
// and launches captured into a CUDA graph on a stream of their own.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.hpp"
#include "reference/op_reference.hpp"
#include "kernel_test_util.hpp"
#include "kernels/mha_flash_tiled.hpp"

namespace visionrt::kernels {
namespace {

using namespace visionrt::kernels::testing;

enum class Layout { fused_qkv, separate_strided };
enum class MaskKind { none, partial, partial_and_one_batch_fully_padded, first_tile_padded };
// large_logits: the case's scale makes q.k * scale reach about +-50 (checked).
// nonfinite_padded_rows: the K and V rows of padded keys hold NaN, Inf, -Inf.
enum class Stress { none, large_logits, nonfinite_padded_rows };

struct AttentionCase {
  const char* name;
  DType dtype;
  int batch, heads, head_dim, q_len, kv_len;
  Layout layout;
  MaskKind mask;
  int64_t out_pad;  // extra elements at the end of every output row
  float scale;      // 0: the kernel's default 1/sqrt(head_dim)
  Stress stress;
  bool in_graph;  // launched inside graph capture on a non-blocking stream
};

void PrintTo(const AttentionCase& c, std::ostream* os) { *os << c.name; }

class AttentionKernel : public ::testing::TestWithParam<AttentionCase> {};

// Keys of the first 80 (more than one key tile of either kernel) are padded,
// about 30% of the rest; batch 0 alone of partial_and_one_batch_fully_padded
// has no real key at all.
std::vector<float> make_mask(const AttentionCase& c, uint32_t seed) {
  if (c.mask == MaskKind::none) return {};
  std::vector<float> mask = random_floats(size_t(c.batch) * c.kv_len, 0.f, 1.f, seed);
  for (float& m : mask) m = m < 0.3f ? 0.f : 1.f;
  if (c.mask == MaskKind::partial_and_one_batch_fully_padded)
    for (int j = 0; j < c.kv_len; ++j) mask[j] = 0.f;
  if (c.mask == MaskKind::first_tile_padded)
    for (int b = 0; b < c.batch; ++b)
      for (int j = 0; j < std::min(c.kv_len, 80); ++j) mask[size_t(b) * c.kv_len + j] = 0.f;
  return mask;
}

// Overwrites the `width` columns from `offset` of every padded key's row with
// NaN, Inf and -Inf in turn.
void poison_padded_rows(std::vector<float>& rows, const std::vector<float>& mask, int64_t stride,
                        int64_t offset, int64_t width) {
  const float poison[] = {NAN, INFINITY, -INFINITY};
  for (size_t key = 0; key < mask.size(); ++key)
    if (mask[key] == 0.f)
      for (int64_t i = 0; i < width; ++i) rows[key * stride + offset + i] = poison[(key + i) % 3];
}

TEST_P(AttentionKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const AttentionCase& c = GetParam();
  const int64_t width = int64_t(c.heads) * c.head_dim;
  const uint32_t seed = 1000u + c.batch * 131u + c.q_len * 7u + c.kv_len + c.head_dim;
  const std::vector<float> mask = make_mask(c, seed + 3);
  const bool poison = c.stress == Stress::nonfinite_padded_rows;
  ASSERT_TRUE(!poison || !mask.empty()) << "padded rows need a mask";

  // Input layouts. Strides and offsets are multiples of 8 elements, which is
  // 16 bytes or more for every type.
  reference::AttentionShape s;
  s.batch = c.batch;
  s.heads = c.heads;
  s.head_dim = c.head_dim;
  s.q_len = c.q_len;
  s.kv_len = c.kv_len;
  s.scale = c.scale > 0 ? c.scale : 1.0 / std::sqrt(double(c.head_dim));
  DeviceTensor qbuf, kbuf, vbuf;
  // q, k in [-2, 2] give scores with a standard deviation near 1.3 at the
  // default scale, so the softmax is neither flat nor one-hot; v in [-1, 1].
  if (c.layout == Layout::fused_qkv) {
    ASSERT_EQ(c.q_len, c.kv_len);
    s.q_stride = s.k_stride = s.v_stride = 3 * width;
    s.q_offset = 0;
    s.k_offset = width;
    s.v_offset = 2 * width;
    std::vector<float> qkv = random_floats(size_t(c.batch) * c.q_len * 3 * width, -2.f, 2.f, seed);
    for (size_t row = 0; row < size_t(c.batch) * c.q_len; ++row)
      for (int64_t i = 2 * width; i < 3 * width; ++i) qkv[row * 3 * width + i] *= 0.5f;
    if (poison) poison_padded_rows(qkv, mask, 3 * width, width, 2 * width);  // K and V
    qbuf = upload(c.dtype, qkv);
  } else {
    s.q_stride = width + 16;
    s.q_offset = 8;
    s.k_stride = width + 24;
    s.k_offset = 16;
    s.v_stride = width + 8;
    s.v_offset = 0;
    std::vector<float> k =
        random_floats(size_t(c.batch) * c.kv_len * s.k_stride, -2.f, 2.f, seed + 1);
    std::vector<float> v =
        random_floats(size_t(c.batch) * c.kv_len * s.v_stride, -1.f, 1.f, seed + 2);
    if (poison) {
      poison_padded_rows(k, mask, s.k_stride, s.k_offset, width);
      poison_padded_rows(v, mask, s.v_stride, s.v_offset, width);
    }
    qbuf = upload(c.dtype, random_floats(size_t(c.batch) * c.q_len * s.q_stride, -2.f, 2.f, seed));
    kbuf = upload(c.dtype, k);
    vbuf = upload(c.dtype, v);
  }
  const DeviceTensor& kt = c.layout == Layout::fused_qkv ? qbuf : kbuf;
  const DeviceTensor& vt = c.layout == Layout::fused_qkv ? qbuf : vbuf;
  DeviceTensor mask_dev;
  if (!mask.empty()) mask_dev = upload(DType::f32, mask);

  const int64_t out_stride = width + c.out_pad;
  const size_t out_elems = size_t(c.batch) * c.q_len * out_stride;
  DeviceBuffer out = poisoned(c.dtype, out_elems);

  AttentionParams p;
  p.dtype = c.dtype;
  p.batch = c.batch;
  p.heads = c.heads;
  p.head_dim = c.head_dim;
  p.q_len = c.q_len;
  p.kv_len = c.kv_len;
  p.q = qbuf.buffer.data();
  p.k = kt.buffer.data();
  p.v = vt.buffer.data();
  p.q_row_stride = s.q_stride;
  p.k_row_stride = s.k_stride;
  p.v_row_stride = s.v_stride;
  p.q_col_offset = s.q_offset;
  p.k_col_offset = s.k_offset;
  p.v_col_offset = s.v_offset;
  p.out = out.data();
  p.out_row_stride = out_stride;
  p.key_mask = mask.empty() ? nullptr : static_cast<const float*>(mask_dev.buffer.data());
  p.scale = c.scale;
  std::string why;
  ASSERT_TRUE(can_implement(p, &why)) << why;
  launch_maybe_in_graph(p, c.in_graph, out, mha_flash_tiled);

  const std::vector<double> got_rows = download(c.dtype, out, out_elems);
  const std::vector<double> ref =
      reference::attention(s, qbuf.values, kt.values, vt.values, mask_dev.values);

  // Split the output into the written part and the row gaps.
  std::vector<double> got(ref.size());
  size_t gap_written = 0;
  for (size_t row = 0; row < size_t(c.batch) * c.q_len; ++row) {
    for (int64_t i = 0; i < width; ++i) got[row * width + i] = got_rows[row * out_stride + i];
    for (int64_t i = width; i < out_stride; ++i)
      if (!std::isnan(got_rows[row * out_stride + i])) ++gap_written;
  }
  EXPECT_EQ(gap_written, 0u) << "the kernel wrote into the output row gaps";

  // Over the real keys only (padded ones may hold anything): max|V|, and per
  // (query, key) pair the logit and the sum of |q_d k_d| * scale its fp32
  // rounding error is bounded by.
  auto is_real = [&](int b, int j) {
    return mask.empty() || mask[size_t(b) * c.kv_len + j] != 0.f;
  };
  double vmax = 0.0, max_logit = 0.0, max_abs_terms = 0.0;
  for (int b = 0; b < c.batch; ++b)
    for (int j = 0; j < c.kv_len; ++j) {
      if (!is_real(b, j)) continue;
      const int64_t krow = (int64_t(b) * c.kv_len + j) * s.k_stride + s.k_offset;
      const int64_t vrow = (int64_t(b) * c.kv_len + j) * s.v_stride + s.v_offset;
      for (int64_t i = 0; i < width; ++i) vmax = std::max(vmax, std::abs(vt.values[vrow + i]));
      for (int h = 0; h < c.heads; ++h)
        for (int qi = 0; qi < c.q_len; ++qi) {
          const int64_t qrow = (int64_t(b) * c.q_len + qi) * s.q_stride + s.q_offset;
          double dot = 0.0, terms = 0.0;
          for (int d = 0; d < c.head_dim; ++d) {
            const double t =
                qbuf.values[qrow + h * c.head_dim + d] * kt.values[krow + h * c.head_dim + d];
            dot += t;
            terms += std::abs(t);
          }
          max_logit = std::max(max_logit, std::abs(dot) * s.scale);
          max_abs_terms = std::max(max_abs_terms, terms * s.scale);
        }
    }
  if (c.stress == Stress::large_logits) {
    EXPECT_GE(max_logit, 40.0) << "the case's logits are not large";
  }

  // Outputs are convex combinations of V rows, so max|V| is their scale.
  // Logits: the fp32 dot product of head_dim terms, the scale (a rounded
  // constant multiplied in) and the subtraction of the row max are off by at
  // most (head_dim + 4) units of sum|q_d k_d| * scale, a unit being 2^-24 for
  // the fp32 kernel's FMAs and 2^-23 for tensor-core accumulation (which may
  // truncate). Logit errors of at most D move every softmax weight by a
  // relative expm1(2D), so the output by that times max|V|; with logits near
  // 50 this is the largest term. The remaining fp32 arithmetic (exp2, the
  // sums over keys) stays well within 1e-5 of max|V|. f16/bf16 add two
  // roundings of unit roundoff u: P rounded to the input type before P.V (at
  // most u * max|V| in total, as the weights sum to 1) and the output itself
  // (u * |O| <= u * max|V|).
  const double fp32_unit = std::ldexp(1.0, c.dtype == DType::f32 ? -24 : -23);
  const double logit_error = (c.head_dim + 4) * fp32_unit * max_abs_terms;
  const double u = c.dtype == DType::f32 ? 0.0 : unit_roundoff(c.dtype);
  const double tol = (2 * u + std::expm1(2 * logit_error) + 1e-5) * vmax;
  EXPECT_TRUE(all_close(c.name, got, ref, constant(ref.size(), tol)));

  if (c.mask == MaskKind::partial_and_one_batch_fully_padded) {
    // Batch 0 has no real key: its rows must be exactly zero, not NaN.
    for (size_t i = 0; i < size_t(c.q_len) * width; ++i) ASSERT_EQ(got[i], 0.0) << "element " << i;
  }
}

constexpr auto fused = Layout::fused_qkv;
constexpr auto separate = Layout::separate_strided;
constexpr auto no_mask = MaskKind::none;
constexpr auto partial = MaskKind::partial;
constexpr auto padded_batch = MaskKind::partial_and_one_batch_fully_padded;
constexpr auto padded_first_tile = MaskKind::first_tile_padded;
constexpr auto plain = Stress::none;
constexpr auto large_logits = Stress::large_logits;
constexpr auto nonfinite = Stress::nonfinite_padded_rows;
constexpr bool direct = false, in_graph = true;

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionKernel,
    ::testing::Values(
        // ViT-B/16 at 224: 197 tokens from the fused QKV projection.
        AttentionCase{"f16_vit197_d64", f16, 2, 3, 64, 197, 197, fused, no_mask, 0, 0.f, plain,
                      direct},
        AttentionCase{"bf16_vit197_d64", bf16, 2, 3, 64, 197, 197, fused, no_mask, 0, 0.f, plain,
                      direct},
        AttentionCase{"f32_vit197_d64", f32, 2, 3, 64, 197, 197, fused, no_mask, 0, 0.f, plain,
                      direct},
        AttentionCase{"f16_vit577_d64", f16, 1, 2, 64, 577, 577, fused, no_mask, 0, 0.f, plain,
                      direct},
        // ViT-H/14 at 224 (257 tokens, head dim 80) and head dim 128.
        AttentionCase{"f16_vith257_d80", f16, 1, 2, 80, 257, 257, fused, no_mask, 0, 0.f, plain,
                      direct},
        AttentionCase{"bf16_vith257_d80", bf16, 1, 2, 80, 257, 257, fused, no_mask, 0, 0.f, plain,
                      direct},
        AttentionCase{"f32_vith257_d80", f32, 1, 2, 80, 257, 257, fused, no_mask, 0, 0.f, plain,
                      direct},
        AttentionCase{"f16_d128_tails", f16, 2, 2, 128, 129, 77, separate, partial, 8, 0.f, plain,
                      direct},
        AttentionCase{"bf16_d128_padded", bf16, 2, 1, 128, 65, 200, separate, padded_batch, 0, 0.f,
                      plain, direct},
        AttentionCase{"f32_d128_tails", f32, 2, 2, 128, 129, 77, separate, partial, 4, 0.f, plain,
                      direct},
        AttentionCase{"f32_d80_tails", f32, 1, 3, 80, 65, 33, separate, partial, 8, 0.f, plain,
                      direct},
        // DETR-like: 100 queries over 1050 padded keys, head dim 32.
        AttentionCase{"f16_detr_d32_mask", f16, 2, 2, 32, 100, 1050, separate, partial, 0, 0.f,
                      plain, direct},
        AttentionCase{"bf16_detr_d32_padded", bf16, 2, 2, 32, 100, 1050, separate, padded_batch, 0,
                      0.f, plain, direct},
        AttentionCase{"f32_detr_d32_padded", f32, 2, 2, 32, 100, 1050, separate, padded_batch, 0,
                      0.f, plain, direct},
        // Single query and key.
        AttentionCase{"f16_one_token", f16, 1, 1, 64, 1, 1, separate, no_mask, 0, 0.f, plain,
                      direct},
        AttentionCase{"f32_one_token", f32, 1, 1, 32, 1, 1, separate, no_mask, 0, 0.f, plain,
                      direct},
        // Tails: one row past a query tile, keys not a multiple of 16, padded
        // output rows.
        AttentionCase{"f16_tails_d32", f16, 3, 2, 32, 65, 37, separate, partial, 8, 0.f, plain,
                      direct},
        AttentionCase{"bf16_tails_d64", bf16, 2, 2, 64, 129, 17, separate, padded_batch, 8, 0.f,
                      plain, direct},
        AttentionCase{"f32_tails_d64", f32, 1, 2, 64, 129, 17, separate, partial, 4, 0.f, plain,
                      direct},
        // Whole tiles and an explicit scale.
        AttentionCase{"bf16_exact_tiles", bf16, 2, 1, 64, 64, 128, separate, no_mask, 0, 0.3f,
                      plain, direct},
        AttentionCase{"f16_d32_fused_mask", f16, 2, 4, 32, 50, 50, fused, padded_batch, 0, 0.f,
                      plain, direct},
        // The first key tile (64 keys for f16/bf16, 16 for f32) entirely
        // padded, real keys after it.
        AttentionCase{"f16_padded_first_tile", f16, 2, 2, 64, 70, 150, separate, padded_first_tile,
                      0, 0.f, plain, direct},
        AttentionCase{"bf16_padded_first_tile_d80", bf16, 1, 2, 80, 33, 197, separate,
                      padded_first_tile, 0, 0.f, plain, direct},
        AttentionCase{"f32_padded_first_tile", f32, 2, 2, 32, 70, 150, separate, padded_first_tile,
                      0, 0.f, plain, direct},
        // Logits near +-50: scores of q, k in [-2, 2] have a standard deviation
        // of 4/3 sqrt(head_dim); these scales make it about 19.
        AttentionCase{"f16_logits50_d64", f16, 2, 2, 64, 197, 197, fused, no_mask, 0, 1.75f,
                      large_logits, direct},
        AttentionCase{"bf16_logits50_d128", bf16, 1, 2, 128, 130, 130, separate, partial, 0, 1.25f,
                      large_logits, direct},
        AttentionCase{"f32_logits50_d64", f32, 2, 2, 64, 197, 197, fused, partial, 0, 1.75f,
                      large_logits, direct},
        // NaN and Inf in the K and V rows of padded keys must not reach the output.
        AttentionCase{"f16_nonfinite_padded_rows", f16, 2, 2, 64, 100, 150, separate, partial, 0,
                      0.f, nonfinite, direct},
        AttentionCase{"bf16_nonfinite_first_tile_d128", bf16, 2, 1, 128, 65, 150, separate,
                      padded_first_tile, 0, 0.f, nonfinite, direct},
        AttentionCase{"f32_nonfinite_padded_rows", f32, 2, 2, 32, 100, 150, separate, padded_batch,
                      0, 0.f, nonfinite, direct},
        AttentionCase{"f16_nonfinite_fused", f16, 2, 2, 64, 90, 90, fused, partial, 0, 0.f,
                      nonfinite, direct},
        AttentionCase{"f32_nonfinite_d80", f32, 1, 2, 80, 40, 120, separate, padded_first_tile, 0,
                      0.f, nonfinite, direct},
        // Captured into a CUDA graph on a non-blocking stream: every launch
        // (and the shared-memory opt-in of head dims 80 and 128) must be
        // capture-safe and on p.stream.
        AttentionCase{"f16_d64_graph", f16, 2, 3, 64, 197, 197, fused, partial, 0, 0.f, plain,
                      in_graph},
        AttentionCase{"bf16_d128_graph", bf16, 1, 2, 128, 100, 150, separate, partial, 0, 0.f,
                      plain, in_graph},
        AttentionCase{"f32_d80_graph", f32, 1, 2, 80, 100, 150, separate, partial, 0, 0.f, plain,
                      in_graph},
        // Heads narrower than the tile that runs them (zero columns up to
        // 16, 32, 64 or 128): small DETRs (8), DINOv2-style and odd widths.
        AttentionCase{"f16_d8_detr_mask", f16, 2, 2, 8, 100, 300, separate, partial, 0, 0.f, plain,
                      direct},
        AttentionCase{"bf16_d16_fused", bf16, 2, 4, 16, 65, 65, fused, padded_batch, 0, 0.f, plain,
                      direct},
        AttentionCase{"f32_d8_fused", f32, 2, 4, 8, 50, 50, fused, partial, 4, 0.f, plain, direct},
        AttentionCase{"f32_d16_tails", f32, 1, 2, 16, 129, 17, separate, partial, 4, 0.f, plain,
                      direct},
        AttentionCase{"f16_d24_tails", f16, 1, 3, 24, 65, 37, separate, partial, 8, 0.f, plain,
                      direct},
        AttentionCase{"bf16_d48_nonfinite", bf16, 2, 2, 48, 70, 150, separate, padded_first_tile, 0,
                      0.f, nonfinite, direct},
        AttentionCase{"f32_d48_fused", f32, 1, 2, 48, 197, 197, fused, no_mask, 0, 0.f, plain,
                      direct},
        AttentionCase{"f16_d96_logits50", f16, 1, 2, 96, 130, 130, separate, partial, 0, 1.25f,
                      large_logits, direct},
        AttentionCase{"f32_d120_tails", f32, 1, 2, 120, 65, 33, separate, partial, 8, 0.f, plain,
                      direct},
        AttentionCase{"f16_d8_graph", f16, 2, 2, 8, 100, 150, separate, partial, 0, 0.f, plain,
                      in_graph},
        // Heads the tiled kernels do not hold, on the generic kernel: tiny
        // heads (3, 5), d_model 96 over 8 heads (12), 20, and wider than 128.
        // The separate layout of f32 head dim 3 also has rows that are not
        // 16-byte aligned (strides of 22, 30 and 14 floats).
        AttentionCase{"f32_d3_mask", f32, 2, 2, 3, 40, 70, separate, partial, 4, 0.f, plain,
                      direct},
        AttentionCase{"f16_d3_padded", f16, 2, 3, 3, 33, 45, separate, padded_batch, 0, 0.f, plain,
                      direct},
        AttentionCase{"f32_d12_fused", f32, 2, 8, 12, 65, 65, fused, no_mask, 0, 0.f, plain,
                      direct},
        AttentionCase{"f16_d12_fused_mask", f16, 2, 8, 12, 65, 65, fused, partial, 0, 0.f, plain,
                      direct},
        AttentionCase{"bf16_d12_padded", bf16, 2, 8, 12, 50, 100, separate, padded_batch, 8, 0.f,
                      plain, direct},
        AttentionCase{"f32_d20_tails", f32, 1, 3, 20, 65, 37, separate, partial, 4, 0.f, plain,
                      direct},
        AttentionCase{"f16_d20_nonfinite", f16, 2, 2, 20, 70, 150, separate, padded_first_tile, 0,
                      0.f, nonfinite, direct},
        AttentionCase{"bf16_d20_logits50", bf16, 1, 2, 20, 90, 90, fused, partial, 0, 4.f,
                      large_logits, direct},
        AttentionCase{"bf16_d5_graph", bf16, 2, 2, 5, 60, 80, separate, partial, 0, 0.f, plain,
                      in_graph},
        AttentionCase{"f16_d136_mask", f16, 1, 2, 136, 40, 100, separate, partial, 8, 0.f, plain,
                      direct},
        AttentionCase{"f32_d256_tails", f32, 1, 1, 256, 33, 70, separate, padded_first_tile, 4, 0.f,
                      plain, direct}),
    [](const ::testing::TestParamInfo<AttentionCase>& info) {
      return std::string(info.param.name);
    });

// ---- parameter validation (needs no device) ------------------------------------

AttentionParams valid_params() {
  alignas(16) static char storage[64];
  AttentionParams p;
  p.dtype = DType::f16;
  p.batch = 1;
  p.heads = 2;
  p.head_dim = 64;
  p.q_len = p.kv_len = 10;
  p.q = p.k = p.v = storage;
  p.out = storage;
  return p;
}

TEST(AttentionKernelParams, AcceptsValidParameters) {
  std::string why;
  EXPECT_TRUE(can_implement(valid_params(), &why)) << why;
}

TEST(AttentionKernelParams, AcceptsEveryHeadDimUpToTheMaximum) {
  for (const DType dtype : {DType::f32, DType::f16, DType::bf16})
    for (int head_dim = 0; head_dim <= 300; ++head_dim) {
      AttentionParams p = valid_params();
      p.dtype = dtype;
      p.heads = 1;
      p.head_dim = head_dim;
      p.q_row_stride = p.k_row_stride = p.v_row_stride = p.out_row_stride = 300;
      // Multiples of 8 up to 128 with 16-byte rows run tiled, the rest generic.
      const bool held = head_dim >= 1 && head_dim <= kMaxHeadDim;
      std::string why;
      EXPECT_EQ(can_implement(p, &why), held)
          << dtype_name(dtype) << " head_dim " << head_dim << ": " << why;
    }
}

// Rows that are not 16-byte aligned (the generic kernel reads element by
// element): odd strides and offsets, pointers aligned only to their elements.
TEST(AttentionKernelParams, AcceptsRowsThatAreNotSixteenByteAligned) {
  struct Edit {
    const char* name;
    void (*edit)(AttentionParams&);
  };
  const Edit edits[] = {
      {"q stride", [](AttentionParams& p) { p.q_row_stride = 3 * 128 + 4; }},
      {"k offset",
       [](AttentionParams& p) {
         p.k_col_offset = 4;
         p.k_row_stride = 3 * 128;
       }},
      {"out pointer", [](AttentionParams& p) { p.out = static_cast<char*>(p.out) + 2; }},
      {"head_dim 12", [](AttentionParams& p) { p.head_dim = 12; }},
  };
  for (const Edit& e : edits) {
    AttentionParams p = valid_params();
    e.edit(p);
    std::string why;
    EXPECT_TRUE(can_implement(p, &why)) << e.name << ": " << why;
  }
}

TEST(AttentionKernelParams, RefusesWhatItCannotRun) {
  struct Bad {
    const char* expect;
    void (*edit)(AttentionParams&);
  };
  const Bad cases[] = {
      {"head_dim 0", [](AttentionParams& p) { p.head_dim = 0; }},
      {"head_dim 257", [](AttentionParams& p) { p.head_dim = 257; }},
      {"empty sequence", [](AttentionParams& p) { p.kv_len = 0; }},
      {"null", [](AttentionParams& p) { p.v = nullptr; }},
      {"do not fit", [](AttentionParams& p) { p.v_col_offset = 64; }},
      {"2-byte elements", [](AttentionParams& p) { p.out = static_cast<char*>(p.out) + 1; }},
      {"scale", [](AttentionParams& p) { p.scale = -1.f; }},
  };
  for (const Bad& bad : cases) {
    AttentionParams p = valid_params();
    bad.edit(p);
    std::string why;
    EXPECT_FALSE(can_implement(p, &why)) << bad.expect;
    EXPECT_NE(why.find(bad.expect), std::string::npos) << "reason: " << why;
    // The launcher refuses before touching the device.
    try {
      mha_flash_tiled(p);
      ADD_FAILURE() << "no error for " << bad.expect;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), StatusCode::unsupported) << e.what();
    }
  }
}

}  // namespace
}  // namespace visionrt::kernels
