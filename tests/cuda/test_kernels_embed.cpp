// Patch embedding (im2col + cuBLAS with class token and position embedding)
// and DETR's sine position encoding against double-precision references.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.hpp"
#include "reference/op_reference.hpp"
#include "kernel_test_util.hpp"
#include "kernels/patch_embed.hpp"
#include "kernels/sine_position.hpp"

namespace visionrt::kernels {
namespace {

using namespace visionrt::kernels::testing;


// ---- patch embedding --------------------------------------------------------------

struct PatchCase {
  const char* name;
  DType dtype;
  int batch, channels, height, width, patch, dim;
  bool bias, cls, pos;
};

void PrintTo(const PatchCase& c, std::ostream* os) { *os << c.name; }

class PatchEmbedKernel : public ::testing::TestWithParam<PatchCase> {};

TEST_P(PatchEmbedKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const PatchCase& c = GetParam();
  const int patches = (c.height / c.patch) * (c.width / c.patch);
  const int tokens = patches + (c.cls ? 1 : 0);
  const int k = c.channels * c.patch * c.patch;
  const uint32_t seed = 300u + uint32_t(c.dim + c.height);
  DeviceTensor pixels = upload(
      c.dtype, random_floats(size_t(c.batch) * c.channels * c.height * c.width, -1.f, 1.f, seed));
  DeviceTensor weight = upload(c.dtype, random_floats(size_t(c.dim) * k, -0.1f, 0.1f, seed + 1));
  DeviceTensor bias = upload(c.dtype, random_floats(size_t(c.dim), -0.5f, 0.5f, seed + 2));
  DeviceTensor cls = upload(c.dtype, random_floats(size_t(c.dim), -1.f, 1.f, seed + 3));
  DeviceTensor pos = upload(c.dtype, random_floats(size_t(tokens) * c.dim, -0.5f, 0.5f, seed + 4));
  const size_t out_elems = size_t(c.batch) * tokens * c.dim;
  DeviceBuffer out = poisoned(c.dtype, out_elems);
  BlasHandle blas;

  PatchEmbedParams p;
  p.dtype = c.dtype;
  p.batch = c.batch;
  p.channels = c.channels;
  p.height = c.height;
  p.width = c.width;
  p.patch = c.patch;
  p.embed_dim = c.dim;
  p.pixels = pixels.buffer.data();
  p.weight = weight.buffer.data();
  p.bias = c.bias ? bias.buffer.data() : nullptr;
  p.cls = c.cls ? cls.buffer.data() : nullptr;
  p.pos = c.pos ? pos.buffer.data() : nullptr;
  p.output = out.data();
  p.blas_handle = blas.get();
  ASSERT_EQ(token_count(p), tokens);
  DeviceBuffer workspace = poisoned(c.dtype, patch_embed_workspace_bytes(p) / dtype_size(c.dtype));
  p.workspace = workspace.data();
  p.workspace_bytes = workspace.size();
  patch_embed(p);
  const std::vector<double> got = download(c.dtype, out, out_elems);

  reference::PatchShape s{c.batch, c.channels, c.height, c.width, c.patch, c.dim};
  std::vector<double> terms;
  const std::vector<double> ref = reference::patch_embed(
      s, pixels.values, weight.values, c.bias ? bias.values : std::vector<double>{},
      c.cls ? cls.values : std::vector<double>{}, c.pos ? pos.values : std::vector<double>{}, &terms);
  // Bias + position are rounded to the type when the output is pre-filled
  // (u times their magnitude), the GEMM sums k + 2 terms in fp32 (at most
  // (k + 2) fp32 ulp of the sum of their magnitudes, any order), then one
  // final rounding.
  std::vector<double> tol(out_elems);
  for (size_t i = 0; i < out_elems; ++i)
    tol[i] = rounding_error(c.dtype, ref[i]) +
             (unit_roundoff(c.dtype) + (k + 2) * std::ldexp(1.0, -24)) * terms[i];
  EXPECT_TRUE(all_close(c.name, got, ref, tol));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, PatchEmbedKernel,
    ::testing::Values(
        PatchCase{"f16_vit_like", f16, 2, 3, 32, 32, 16, 64, true, true, true},
        PatchCase{"bf16_vit_like", bf16, 2, 3, 32, 32, 16, 64, true, true, true},
        PatchCase{"f32_vit_like", f32, 2, 3, 32, 32, 16, 64, true, true, true},
        // 35x50 leaves a partial patch row and column, which are ignored.
        PatchCase{"f32_ragged_no_cls", f32, 1, 3, 35, 50, 16, 40, true, false, true},
        PatchCase{"f16_ragged_no_pos", f16, 3, 1, 9, 13, 4, 8, true, true, false},
        PatchCase{"bf16_no_bias", bf16, 1, 2, 8, 8, 2, 24, false, true, true},
        PatchCase{"f32_bare", f32, 2, 1, 6, 6, 3, 5, false, false, false}),
    [](const ::testing::TestParamInfo<PatchCase>& info) { return std::string(info.param.name); });

// ---- sine position encoding -------------------------------------------------------

enum class MaskKind { none, detr_padding, random };

struct SineCase {
  const char* name;
  DType dtype;
  int batch, height, width, feats;
  MaskKind mask;
  bool normalize;
  float offset;
};

void PrintTo(const SineCase& c, std::ostream* os) { *os << c.name; }

class SinePositionKernel : public ::testing::TestWithParam<SineCase> {};

TEST_P(SinePositionKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const SineCase& c = GetParam();
  const size_t positions = size_t(c.batch) * c.height * c.width;
  std::vector<float> mask;
  if (c.mask == MaskKind::detr_padding) {
    // Image b covers the top-left (height - b) x (width - 2b) corner; the
    // rest is padding, as DETR's batching pads to the largest image.
    mask.assign(positions, 0.f);
    for (int b = 0; b < c.batch; ++b)
      for (int y = 0; y < c.height - b; ++y)
        for (int x = 0; x < c.width - 2 * b; ++x) mask[(size_t(b) * c.height + y) * c.width + x] = 1.f;
  } else if (c.mask == MaskKind::random) {
    mask = random_floats(positions, 0.f, 1.f, 42u);
    for (float& m : mask) m = m < 0.25f ? 0.f : 1.f;
  }
  DeviceTensor mask_dev;
  if (!mask.empty()) mask_dev = upload(DType::f32, mask);
  const size_t out_elems = positions * 2 * c.feats;
  DeviceBuffer out = poisoned(c.dtype, out_elems);

  SinePositionParams p;
  p.dtype = c.dtype;
  p.batch = c.batch;
  p.height = c.height;
  p.width = c.width;
  p.num_pos_feats = c.feats;
  p.mask = mask.empty() ? nullptr : static_cast<const float*>(mask_dev.buffer.data());
  p.normalize = c.normalize;
  p.offset = c.offset;
  p.output = out.data();
  sine_position(p);
  const std::vector<double> got = download(c.dtype, out, out_elems);

  reference::SineShape s;
  s.batch = c.batch;
  s.height = c.height;
  s.width = c.width;
  s.feats = c.feats;
  s.temperature = p.temperature;
  s.scale = p.scale;
  s.offset = c.offset;
  s.eps = p.eps;
  s.normalize = c.normalize;
  std::vector<double> args;
  const std::vector<double> ref = reference::sine_position(s, mask_dev.values, &args);
  // The fp32 argument passes through pow (a few ulp), a division and the
  // normalisation, and sin/cos add 2 ulp more: 32 fp32 ulp of (|arg| + 1)
  // covers it; then one rounding to the output type.
  std::vector<double> tol(out_elems);
  for (size_t i = 0; i < out_elems; ++i)
    tol[i] = rounding_error(c.dtype, ref[i]) + 32 * std::ldexp(1.0, -24) * (std::abs(args[i]) + 1);
  EXPECT_TRUE(all_close(c.name, got, ref, tol));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, SinePositionKernel,
    ::testing::Values(
        SineCase{"f32_detr_padding", f32, 3, 5, 7, 16, MaskKind::detr_padding, true, 0.f},
        SineCase{"f16_detr_padding", f16, 2, 6, 9, 64, MaskKind::detr_padding, true, 0.f},
        SineCase{"bf16_random_mask", bf16, 2, 4, 5, 8, MaskKind::random, true, 0.f},
        // DETR-R50 at 800x1066: a 25x34 feature map, d_model 256.
        SineCase{"f32_detr_25x34", f32, 1, 25, 34, 128, MaskKind::none, true, 0.f},
        SineCase{"f32_not_normalized", f32, 2, 3, 40, 16, MaskKind::detr_padding, false, 0.f},
        SineCase{"f32_offset_half", f32, 2, 7, 3, 32, MaskKind::random, true, -0.5f},
        SineCase{"f16_single_pixel", f16, 1, 1, 1, 2, MaskKind::none, true, 0.f},
        // Rows wider than the CTA's 256 threads: each thread finds the embeds
        // of several columns.
        SineCase{"f32_w300_padding", f32, 3, 4, 300, 8, MaskKind::detr_padding, true, 0.f},
        SineCase{"f16_w1100_padding", f16, 2, 3, 1100, 4, MaskKind::detr_padding, true, 0.f},
        SineCase{"bf16_w1100_random_mask", bf16, 2, 2, 1100, 6, MaskKind::random, true, -0.5f}),
    [](const ::testing::TestParamInfo<SineCase>& info) { return std::string(info.param.name); });

// ---- parameter validation (needs no device) -------------------------------------

TEST(EmbedKernelParams, RefusesBadParameters) {
  alignas(256) static char storage[512];
  PatchEmbedParams pe;
  pe.batch = 1;
  pe.channels = 3;
  pe.height = pe.width = 32;
  pe.patch = 16;
  pe.embed_dim = 8;
  pe.pixels = pe.weight = storage;
  pe.output = storage;
  pe.blas_handle = storage;
  pe.workspace = storage;
  pe.workspace_bytes = patch_embed_workspace_bytes(pe);
  // The im2col columns, then cuBLAS's 32 MiB of scratch.
  EXPECT_EQ(pe.workspace_bytes, size_t(4 * 3 * 16 * 16 * 4) + (size_t(32) << 20));
  std::string why;
  EXPECT_TRUE(can_implement(pe, &why)) << why;
  PatchEmbedParams bad = pe;
  bad.workspace_bytes -= 1;
  EXPECT_FALSE(can_implement(bad, &why));
  EXPECT_NE(why.find("workspace"), std::string::npos) << why;
  bad = pe;
  bad.workspace = storage + 16;
  EXPECT_FALSE(can_implement(bad, &why));
  EXPECT_NE(why.find("256-byte aligned"), std::string::npos) << why;
  bad = pe;
  bad.height = 8;
  EXPECT_FALSE(can_implement(bad, &why));
  EXPECT_NE(why.find("smaller than one"), std::string::npos) << why;
  EXPECT_THROW(patch_embed(bad), Error);

  SinePositionParams sp;
  sp.batch = sp.height = sp.width = 1;
  sp.output = storage;
  EXPECT_TRUE(can_implement(sp, &why)) << why;
  SinePositionParams bad_sp = sp;
  bad_sp.num_pos_feats = 63;
  EXPECT_FALSE(can_implement(bad_sp, &why));
  bad_sp = sp;
  bad_sp.width = kMaxSinePositionWidth + 1;
  EXPECT_FALSE(can_implement(bad_sp, &why));
  try {
    sine_position(bad_sp);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::unsupported);
  }
}

}  // namespace
}  // namespace visionrt::kernels
