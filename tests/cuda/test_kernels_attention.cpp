// Fused attention kernel against the double-precision reference: f32, f16 and
// bf16, head dims 32 and 64, fused-QKV and strided separate inputs, sequence
// tails, key-padding masks including fully padded batches, and an output row
// stride whose gap must stay untouched.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.hpp"
#include "kernel_reference.hpp"
#include "kernel_test_util.hpp"
#include "kernels/mha_flash_tiled.hpp"

namespace visionrt::kernels {
namespace {

using namespace visionrt::kernels::testing;

enum class Layout { fused_qkv, separate_strided };
enum class MaskKind { none, partial, partial_and_one_batch_fully_padded };

struct AttentionCase {
  const char* name;
  DataType dtype;
  int batch, heads, head_dim, q_len, kv_len;
  Layout layout;
  MaskKind mask;
  int64_t out_pad;  // extra elements at the end of every output row
  float scale;      // 0: the kernel's default 1/sqrt(head_dim)
};

void PrintTo(const AttentionCase& c, std::ostream* os) { *os << c.name; }

class AttentionKernel : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(AttentionKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const AttentionCase& c = GetParam();
  const int64_t width = int64_t(c.heads) * c.head_dim;
  const uint32_t seed = 1000u + c.batch * 131u + c.q_len * 7u + c.kv_len + c.head_dim;

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
  // q, k in [-2, 2] give scores with a standard deviation near 1.3, so the
  // softmax is neither flat nor one-hot; v in [-1, 1].
  if (c.layout == Layout::fused_qkv) {
    ASSERT_EQ(c.q_len, c.kv_len);
    s.q_stride = s.k_stride = s.v_stride = 3 * width;
    s.q_offset = 0;
    s.k_offset = width;
    s.v_offset = 2 * width;
    std::vector<float> qkv = random_floats(size_t(c.batch) * c.q_len * 3 * width, -2.f, 2.f, seed);
    for (size_t row = 0; row < size_t(c.batch) * c.q_len; ++row)
      for (int64_t i = 2 * width; i < 3 * width; ++i) qkv[row * 3 * width + i] *= 0.5f;
    qbuf = upload(c.dtype, qkv);
  } else {
    s.q_stride = width + 16;
    s.q_offset = 8;
    s.k_stride = width + 24;
    s.k_offset = 16;
    s.v_stride = width + 8;
    s.v_offset = 0;
    qbuf = upload(c.dtype, random_floats(size_t(c.batch) * c.q_len * s.q_stride, -2.f, 2.f, seed));
    kbuf = upload(c.dtype, random_floats(size_t(c.batch) * c.kv_len * s.k_stride, -2.f, 2.f, seed + 1));
    vbuf = upload(c.dtype, random_floats(size_t(c.batch) * c.kv_len * s.v_stride, -1.f, 1.f, seed + 2));
  }
  const DeviceTensor& kt = c.layout == Layout::fused_qkv ? qbuf : kbuf;
  const DeviceTensor& vt = c.layout == Layout::fused_qkv ? qbuf : vbuf;

  std::vector<float> mask;
  DeviceTensor mask_dev;
  if (c.mask != MaskKind::none) {
    mask = random_floats(size_t(c.batch) * c.kv_len, 0.f, 1.f, seed + 3);
    for (float& m : mask) m = m < 0.3f ? 0.f : 1.f;  // about 30% of keys padded
    if (c.mask == MaskKind::partial_and_one_batch_fully_padded)
      for (int j = 0; j < c.kv_len; ++j) mask[j] = 0.f;  // batch 0: no real key at all
    mask_dev = upload(DataType::f32, mask);
  }

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
  mha_flash_tiled(p);

  const std::vector<double> got_rows = download(c.dtype, out, out_elems);
  const std::vector<double> ref =
      reference::attention(s, qbuf.values, kt.values, vt.values, mask.empty() ? nullptr : &mask);

  // Split the output into the written part and the row gaps.
  std::vector<double> got(ref.size());
  size_t gap_written = 0;
  for (size_t row = 0; row < size_t(c.batch) * c.q_len; ++row) {
    for (int64_t i = 0; i < width; ++i) got[row * width + i] = got_rows[row * out_stride + i];
    for (int64_t i = width; i < out_stride; ++i)
      if (!std::isnan(got_rows[row * out_stride + i])) ++gap_written;
  }
  EXPECT_EQ(gap_written, 0u) << "the kernel wrote into the output row gaps";

  // Outputs are convex combinations of V rows, so max|V| is their scale.
  // fp32 arithmetic (scores, exp2, sums over at most ~1000 keys) stays well
  // within 1e-5 of it. f16/bf16 add two roundings of unit roundoff u: P
  // rounded to the input type before P.V (at most u * max|V| in total, as the
  // weights sum to 1) and the output itself (u * |O| <= u * max|V|).
  double vmax = 0.0;
  for (int b = 0; b < c.batch; ++b)
    for (int j = 0; j < c.kv_len; ++j)
      for (int64_t i = 0; i < width; ++i)
        vmax = std::max(vmax, std::abs(vt.values[(int64_t(b) * c.kv_len + j) * s.v_stride +
                                                 s.v_offset + i]));
  const double u = c.dtype == DataType::f32 ? 0.0 : unit_roundoff(c.dtype);
  const double tol = (2 * u + 1e-5) * vmax;
  EXPECT_TRUE(all_close(c.name, got, ref, constant(ref.size(), tol)));

  if (c.mask == MaskKind::partial_and_one_batch_fully_padded) {
    // Batch 0 has no real key: its rows must be exactly zero, not NaN.
    for (size_t i = 0; i < size_t(c.q_len) * width; ++i) ASSERT_EQ(got[i], 0.0) << "element " << i;
  }
}

constexpr auto f32 = DataType::f32;
constexpr auto f16 = DataType::f16;
constexpr auto bf16 = DataType::bf16;
constexpr auto fused = Layout::fused_qkv;
constexpr auto separate = Layout::separate_strided;
constexpr auto no_mask = MaskKind::none;
constexpr auto partial = MaskKind::partial;
constexpr auto padded_batch = MaskKind::partial_and_one_batch_fully_padded;

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionKernel,
    ::testing::Values(
        // ViT-B/16 at 224: 197 tokens from the fused QKV projection.
        AttentionCase{"f16_vit197_d64", f16, 2, 3, 64, 197, 197, fused, no_mask, 0, 0.f},
        AttentionCase{"bf16_vit197_d64", bf16, 2, 3, 64, 197, 197, fused, no_mask, 0, 0.f},
        AttentionCase{"f32_vit197_d64", f32, 2, 3, 64, 197, 197, fused, no_mask, 0, 0.f},
        AttentionCase{"f16_vit577_d64", f16, 1, 2, 64, 577, 577, fused, no_mask, 0, 0.f},
        // DETR-like: 100 queries over 1050 padded keys, head dim 32.
        AttentionCase{"f16_detr_d32_mask", f16, 2, 2, 32, 100, 1050, separate, partial, 0, 0.f},
        AttentionCase{"bf16_detr_d32_padded", bf16, 2, 2, 32, 100, 1050, separate, padded_batch, 0,
                      0.f},
        AttentionCase{"f32_detr_d32_padded", f32, 2, 2, 32, 100, 1050, separate, padded_batch, 0,
                      0.f},
        // Single query and key.
        AttentionCase{"f16_one_token", f16, 1, 1, 64, 1, 1, separate, no_mask, 0, 0.f},
        AttentionCase{"f32_one_token", f32, 1, 1, 32, 1, 1, separate, no_mask, 0, 0.f},
        // Tails: one row past a query tile, keys not a multiple of 16, padded
        // output rows.
        AttentionCase{"f16_tails_d32", f16, 3, 2, 32, 65, 37, separate, partial, 8, 0.f},
        AttentionCase{"bf16_tails_d64", bf16, 2, 2, 64, 129, 17, separate, padded_batch, 8, 0.f},
        AttentionCase{"f32_tails_d64", f32, 1, 2, 64, 129, 17, separate, partial, 4, 0.f},
        // Whole tiles and an explicit scale.
        AttentionCase{"bf16_exact_tiles", bf16, 2, 1, 64, 64, 128, separate, no_mask, 0, 0.3f},
        AttentionCase{"f16_d32_fused_mask", f16, 2, 4, 32, 50, 50, fused, padded_batch, 0, 0.f}),
    [](const ::testing::TestParamInfo<AttentionCase>& info) { return std::string(info.param.name); });

// ---- parameter validation (needs no device) ------------------------------------

AttentionParams valid_params() {
  alignas(16) static char storage[64];
  AttentionParams p;
  p.dtype = DataType::f16;
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

TEST(AttentionKernelParams, RefusesWhatItCannotRun) {
  struct Bad {
    const char* expect;
    void (*edit)(AttentionParams&);
  };
  const Bad cases[] = {
      {"head_dim 48", [](AttentionParams& p) { p.head_dim = 48; }},
      {"empty sequence", [](AttentionParams& p) { p.kv_len = 0; }},
      {"null", [](AttentionParams& p) { p.v = nullptr; }},
      {"16 bytes", [](AttentionParams& p) { p.q_row_stride = 3 * 128 + 4; }},
      {"16 bytes", [](AttentionParams& p) { p.k_col_offset = 4; p.k_row_stride = 3 * 128; }},
      {"do not fit", [](AttentionParams& p) { p.v_col_offset = 64; }},
      {"not 16-byte aligned", [](AttentionParams& p) { p.out = static_cast<char*>(p.out) + 2; }},
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
