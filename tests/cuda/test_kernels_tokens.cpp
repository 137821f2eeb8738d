// The graph ops around ViT's encoder against CPU references: prefix tokens
// and position embedding, token selection and means, type casts, broadcast copies and
// bicubic position-table resampling. Cases marked in_graph run the launcher
// inside CUDA graph capture on a non-blocking stream, which fails if it
// allocates, synchronises or sends work anywhere but p.stream.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <string>

#include "core/error.hpp"
#include "reference/op_reference.hpp"
#include "kernel_test_util.hpp"
#include "kernels/cast.hpp"
#include "kernels/embed_tokens.hpp"
#include "kernels/expand.hpp"
#include "kernels/mean_tokens.hpp"
#include "kernels/resample_position.hpp"
#include "kernels/select_token.hpp"
#include "kernels/slice_tokens.hpp"

namespace visionrt::kernels {
namespace {

using namespace visionrt::kernels::testing;



// Exact equality, NaN matching NaN and the sign of zero included.
::testing::AssertionResult exactly_equal(const std::string& what, const std::vector<double>& got,
                                         const std::vector<double>& want) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << what << ": size mismatch";
  for (size_t i = 0; i < got.size(); ++i) {
    const bool same = std::isnan(want[i])
                          ? std::isnan(got[i])
                          : got[i] == want[i] && std::signbit(got[i]) == std::signbit(want[i]);
    if (!same)
      return ::testing::AssertionFailure()
             << what << ": element " << i << " is " << got[i] << ", want " << want[i];
  }
  return ::testing::AssertionSuccess();
}

// ---- class token and position embedding -------------------------------------------

struct EmbedTokensCase {
  const char* name;
  DType dtype;
  int64_t batch, tokens, dim, prefix_rows;
  int misalign;  // elements the input starts past a 16-byte boundary (element-wise path)
  bool in_graph;
};

void PrintTo(const EmbedTokensCase& c, std::ostream* os) { *os << c.name; }

class EmbedTokensKernel : public ::testing::TestWithParam<EmbedTokensCase> {};

TEST_P(EmbedTokensKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const EmbedTokensCase& c = GetParam();
  const uint32_t seed = 500u + uint32_t(c.dim + c.tokens);
  const size_t in_elems = size_t(c.batch * c.tokens * c.dim);
  DeviceTensor input = upload(c.dtype, random_floats(in_elems + c.misalign, -2.f, 2.f, seed));
  DeviceTensor prefix = upload(c.dtype, random_floats(size_t(c.prefix_rows * c.dim), -1.f, 1.f, seed + 1));
  DeviceTensor pos = upload(c.dtype, random_floats(size_t(c.tokens * c.dim), -1.f, 1.f, seed + 2));
  const size_t out_elems = size_t(c.batch * (c.prefix_rows + c.tokens) * c.dim);
  DeviceBuffer out = poisoned(c.dtype, out_elems);

  EmbedTokensParams p;
  p.dtype = c.dtype;
  p.batch = c.batch;
  p.tokens = c.tokens;
  p.dim = c.dim;
  p.prefix_rows = c.prefix_rows;
  p.input = static_cast<const char*>(input.buffer.data()) + c.misalign * dtype_size(c.dtype);
  p.prefix = prefix.buffer.data();
  p.pos = pos.buffer.data();
  p.output = out.data();
  std::string why;
  ASSERT_TRUE(can_implement(p, &why)) << why;
  launch_maybe_in_graph(p, c.in_graph, out, embed_tokens);
  const std::vector<double> got = download(c.dtype, out, out_elems);

  const std::vector<double> patches(input.values.begin() + c.misalign, input.values.end());
  const std::vector<double> ref =
      reference::embed_tokens(c.batch, c.tokens, c.dim, c.prefix_rows, patches, prefix.values, pos.values);
  // The fp32 sum of two values rounds once (at most u_f32 of it; nothing for
  // f16 and bf16 sums that fp32 holds exactly, and still a bound when it does
  // not), then the rounding to the type.
  std::vector<double> tol(out_elems);
  for (size_t i = 0; i < out_elems; ++i)
    tol[i] = rounding_error(c.dtype, ref[i]) + unit_roundoff(f32) * std::abs(ref[i]);
  EXPECT_TRUE(all_close(c.name, got, ref, tol));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, EmbedTokensKernel,
    ::testing::Values(
        // ViT-B/16 at 224: 196 patches of 768 behind the class token.
        EmbedTokensCase{"f32_vit_b16", f32, 2, 196, 768, 1, 0, true},
        EmbedTokensCase{"f16_vit_b16", f16, 2, 196, 768, 1, 0, false},
        // DINOv2-S/14 with registers at 224: class and 4 registers; DeiT's
        // class and distillation tokens.
        EmbedTokensCase{"bf16_dinov2_reg", bf16, 2, 256, 384, 5, 0, true},
        EmbedTokensCase{"f16_deit", f16, 1, 196, 384, 2, 0, false},
        EmbedTokensCase{"bf16_d40", bf16, 3, 49, 40, 1, 0, true},
        // Element-wise path: a width that is not whole vectors, a misaligned input.
        EmbedTokensCase{"f16_odd_width", f16, 2, 9, 13, 3, 0, false},
        EmbedTokensCase{"f32_misaligned", f32, 2, 16, 32, 1, 1, true},
        EmbedTokensCase{"bf16_misaligned", bf16, 1, 5, 24, 2, 3, false},
        // No patch tokens: the prefix alone; no prefix: timm's class-token-free ViT.
        EmbedTokensCase{"f16_no_patches", f16, 3, 0, 64, 1, 0, false},
        EmbedTokensCase{"f32_no_prefix", f32, 2, 49, 64, 0, 0, true}),
    [](const ::testing::TestParamInfo<EmbedTokensCase>& info) {
      return std::string(info.param.name);
    });

// ---- token selection ------------------------------------------------------------------

struct SelectTokenCase {
  const char* name;
  DType dtype;
  int64_t batch, tokens, dim, index;
  bool in_graph;
};

void PrintTo(const SelectTokenCase& c, std::ostream* os) { *os << c.name; }

class SelectTokenKernel : public ::testing::TestWithParam<SelectTokenCase> {};

TEST_P(SelectTokenKernel, CopiesTheToken) {
  VRT_REQUIRE_CUDA();
  const SelectTokenCase& c = GetParam();
  const size_t in_elems = size_t(c.batch * c.tokens * c.dim), out_elems = size_t(c.batch * c.dim);
  DeviceTensor x = upload(c.dtype, random_floats(in_elems, -3.f, 3.f, 900u + uint32_t(c.dim)));
  DeviceBuffer out = poisoned(c.dtype, out_elems);

  SelectTokenParams p;
  p.dtype = c.dtype;
  p.batch = c.batch;
  p.tokens = c.tokens;
  p.dim = c.dim;
  p.index = c.index;
  p.input = x.buffer.data();
  p.output = out.data();
  launch_maybe_in_graph(p, c.in_graph, out, select_token);
  // A copy: exact.
  EXPECT_TRUE(exactly_equal(c.name, download(c.dtype, out, out_elems),
                            reference::select_token(c.batch, c.tokens, c.dim, c.index, x.values)));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, SelectTokenKernel,
    ::testing::Values(SelectTokenCase{"f16_vit_cls", f16, 2, 197, 768, 0, true},
                      SelectTokenCase{"bf16_vit_cls", bf16, 3, 197, 768, 0, false},
                      SelectTokenCase{"f32_last_token", f32, 3, 50, 24, 49, true},
                      SelectTokenCase{"bf16_odd_width_middle", bf16, 4, 10, 7, 6, false},
                      SelectTokenCase{"f32_one_token", f32, 1, 1, 5, 0, false}),
    [](const ::testing::TestParamInfo<SelectTokenCase>& info) {
      return std::string(info.param.name);
    });

// ---- token slices ----------------------------------------------------------------------

TEST(SliceTokensKernel, CopiesTheTokens) {
  VRT_REQUIRE_CUDA();
  // YOLOS-Ti's 100 detection tokens after its class token and 4150 patches,
  // in each dtype, once inside graph capture.
  for (auto [dtype, in_graph] : {std::pair{f32, true}, {f16, false}, {bf16, false}}) {
    const int64_t batch = 2, tokens = 4251, dim = 192, first = 4151, count = 100;
    const size_t in_elems = size_t(batch * tokens * dim), out_elems = size_t(batch * count * dim);
    DeviceTensor x = upload(dtype, random_floats(in_elems, -3.f, 3.f, 950u));
    DeviceBuffer out = poisoned(dtype, out_elems);
    SliceTokensParams p;
    p.dtype = dtype;
    p.batch = batch;
    p.tokens = tokens;
    p.dim = dim;
    p.first = first;
    p.count = count;
    p.input = x.buffer.data();
    p.output = out.data();
    launch_maybe_in_graph(p, in_graph, out, slice_tokens);
    EXPECT_TRUE(exactly_equal("slice_tokens", download(dtype, out, out_elems),
                              reference::slice_tokens(batch, tokens, dim, first, count, x.values)));
  }
}

// ---- token means ----------------------------------------------------------------------

struct MeanTokensCase {
  const char* name;
  DType dtype;
  int64_t batch, tokens, dim, first;
  bool in_graph;
};

void PrintTo(const MeanTokensCase& c, std::ostream* os) { *os << c.name; }

class MeanTokensKernel : public ::testing::TestWithParam<MeanTokensCase> {};

TEST_P(MeanTokensKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const MeanTokensCase& c = GetParam();
  const size_t in_elems = size_t(c.batch * c.tokens * c.dim), out_elems = size_t(c.batch * c.dim);
  DeviceTensor x = upload(c.dtype, random_floats(in_elems, -3.f, 3.f, 700u + uint32_t(c.dim)));
  DeviceBuffer out = poisoned(c.dtype, out_elems);

  MeanTokensParams p;
  p.dtype = c.dtype;
  p.batch = c.batch;
  p.tokens = c.tokens;
  p.dim = c.dim;
  p.first = c.first;
  p.input = x.buffer.data();
  p.output = out.data();
  launch_maybe_in_graph(p, c.in_graph, out, mean_tokens);
  const std::vector<double> ref = reference::mean_tokens(c.batch, c.tokens, c.dim, c.first, x.values);
  // Summed in fp64 (exact to far below fp32's rounding for these counts),
  // then rounded once to fp32 and once to the type.
  std::vector<double> tol(out_elems);
  for (size_t i = 0; i < out_elems; ++i)
    tol[i] = rounding_error(c.dtype, ref[i]) + 2 * unit_roundoff(f32) * std::abs(ref[i]);
  EXPECT_TRUE(all_close(c.name, download(c.dtype, out, out_elems), ref, tol));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MeanTokensKernel,
    ::testing::Values(
        // DINOv2-S/14 at 224: 256 patches past the class token, or past the
        // class token and 4 registers.
        MeanTokensCase{"f32_dinov2_s", f32, 2, 257, 384, 1, true},
        MeanTokensCase{"bf16_dinov2_s_reg", bf16, 3, 261, 384, 5, false},
        MeanTokensCase{"f16_odd_width", f16, 2, 9, 13, 1, true},
        MeanTokensCase{"f32_every_token", f32, 1, 7, 5, 0, false},
        MeanTokensCase{"f16_last_token_only", f16, 2, 6, 8, 5, false}),
    [](const ::testing::TestParamInfo<MeanTokensCase>& info) {
      return std::string(info.param.name);
    });

// ---- type casts ----------------------------------------------------------------------

struct CastCase {
  const char* name;
  DType from, to;
  bool in_graph;
};

void PrintTo(const CastCase& c, std::ostream* os) { *os << c.name; }

class CastKernel : public ::testing::TestWithParam<CastCase> {};

// Values over the whole fp32 range (subnormals, f16 overflow, bf16 overflow
// near FLT_MAX) and the cases rounding is decided on: ties to even in f16 and
// bf16, normal and subnormal, the f16 overflow threshold, zeros, infinities, NaN.
std::vector<float> cast_inputs() {
  std::vector<float> v;
  const std::vector<float> mantissa = random_floats(4000, 1.f, 2.f, 31u);
  const std::vector<float> exponent = random_floats(4000, -149.f, 128.f, 32u);
  for (size_t i = 0; i < mantissa.size(); ++i)
    v.push_back((i % 2 ? -1.f : 1.f) * std::ldexp(mantissa[i], int(std::floor(exponent[i]))));
  const float f16_tie = std::ldexp(1.f, -11), bf16_tie = std::ldexp(1.f, -8);
  const float f16_subnormal_tie = std::ldexp(1.f, -25), bf16_subnormal_tie = std::ldexp(1.f, -134);
  const float specials[] = {
      0.f, -0.f, INFINITY, -INFINITY, NAN, FLT_MAX, -FLT_MAX, FLT_MIN, std::ldexp(1.f, -149),
      65504.f, 65519.f, 65520.f, -65520.f,  // f16: largest, below and at the overflow threshold
      1.f + f16_tie, 1.f + 3 * f16_tie, 1.f + bf16_tie, 1.f + 3 * bf16_tie,
      f16_subnormal_tie, 3 * f16_subnormal_tie, bf16_subnormal_tie, 3 * bf16_subnormal_tie};
  v.insert(v.end(), std::begin(specials), std::end(specials));
  return v;
}

TEST_P(CastKernel, RoundsToNearestEven) {
  VRT_REQUIRE_CUDA();
  const CastCase& c = GetParam();
  const DeviceTensor in = upload(c.from, cast_inputs());
  const size_t n = in.values.size();
  DeviceBuffer out = poisoned(c.to, n);

  CastParams p;
  p.from = c.from;
  p.to = c.to;
  p.count = int64_t(n);
  p.input = in.buffer.data();
  p.output = out.data();
  launch_maybe_in_graph(p, c.in_graph, out, cast);
  // Round to nearest even is fully specified: the result must be exact.
  EXPECT_TRUE(exactly_equal(c.name, download(c.to, out, n), reference::cast(c.to, in.values)));
}

INSTANTIATE_TEST_SUITE_P(Types, CastKernel,
                         ::testing::Values(CastCase{"f32_to_f16", f32, f16, true},
                                           CastCase{"f32_to_bf16", f32, bf16, false},
                                           CastCase{"f16_to_f32", f16, f32, false},
                                           CastCase{"bf16_to_f32", bf16, f32, true},
                                           CastCase{"f16_to_bf16", f16, bf16, false},
                                           CastCase{"bf16_to_f16", bf16, f16, false},
                                           CastCase{"f32_to_f32", f32, f32, true},
                                           CastCase{"f16_to_f16", f16, f16, false}),
                         [](const ::testing::TestParamInfo<CastCase>& info) {
                           return std::string(info.param.name);
                         });

// ---- broadcast copies ------------------------------------------------------------------

struct ExpandCase {
  const char* name;
  DType dtype;
  int64_t elements, count;
  int misalign;  // bytes the output starts past a 16-byte boundary
  bool in_graph;
};

void PrintTo(const ExpandCase& c, std::ostream* os) { *os << c.name; }

class ExpandKernel : public ::testing::TestWithParam<ExpandCase> {};

TEST_P(ExpandKernel, RepeatsTheInput) {
  VRT_REQUIRE_CUDA();
  const ExpandCase& c = GetParam();
  const std::vector<uint8_t> bytes =
      encode(c.dtype, random_floats(size_t(c.elements), -5.f, 5.f, 70u + uint32_t(c.elements)));
  DeviceBuffer in(bytes.size());
  in.upload(bytes.data(), bytes.size());
  const size_t out_bytes = bytes.size() * size_t(c.count);
  DeviceBuffer out(out_bytes + c.misalign);
  out.fill_bytes(0xff);

  ExpandParams p;
  p.bytes = int64_t(bytes.size());
  p.count = c.count;
  p.input = in.data();
  p.output = static_cast<char*>(out.data()) + c.misalign;
  launch_maybe_in_graph(p, c.in_graph, out, expand);
  device_synchronize();
  std::vector<uint8_t> got(out_bytes + c.misalign);
  out.download(got.data(), got.size());
  got.erase(got.begin(), got.begin() + c.misalign);
  // A copy: byte for byte.
  EXPECT_TRUE(got == reference::expand(bytes, c.count)) << c.name;
}

INSTANTIATE_TEST_SUITE_P(Shapes, ExpandKernel,
                         ::testing::Values(
                             // ViT's class token [1, 1, 768] to the batch: 16-byte units.
                             ExpandCase{"f32_cls_to_batch", f32, 768, 8, 0, true},
                             ExpandCase{"bf16_cls_to_batch", bf16, 768, 3, 0, false},
                             ExpandCase{"bf16_4_byte_units", bf16, 6, 7, 0, true},
                             ExpandCase{"f16_byte_units", f16, 3, 5, 0, false},
                             ExpandCase{"f16_misaligned_output", f16, 8, 4, 2, false},
                             ExpandCase{"f32_single_copy", f32, 5, 1, 0, false}),
                         [](const ::testing::TestParamInfo<ExpandCase>& info) {
                           return std::string(info.param.name);
                         });

// ---- position-table resampling -----------------------------------------------------------

struct ResampleCase {
  const char* name;
  DType dtype;
  int in_h, in_w, out_h, out_w;
  int64_t dim;
  bool in_graph;
  bool antialias = false;
};

void PrintTo(const ResampleCase& c, std::ostream* os) { *os << c.name; }

class ResamplePositionKernel : public ::testing::TestWithParam<ResampleCase> {};

TEST_P(ResamplePositionKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const ResampleCase& c = GetParam();
  const size_t in_elems = size_t(int64_t(c.in_h) * c.in_w * c.dim);
  const size_t out_elems = size_t(int64_t(c.out_h) * c.out_w * c.dim);
  DeviceTensor table = upload(c.dtype, random_floats(in_elems, -1.f, 1.f, 40u + uint32_t(c.out_w)));
  DeviceBuffer out = poisoned(c.dtype, out_elems);

  ResamplePositionParams p;
  p.dtype = c.dtype;
  p.in_h = c.in_h;
  p.in_w = c.in_w;
  p.out_h = c.out_h;
  p.out_w = c.out_w;
  p.dim = c.dim;
  p.antialias = c.antialias;
  p.input = table.buffer.data();
  p.output = out.data();
  launch_maybe_in_graph(p, c.in_graph, out, resample_position);
  const std::vector<double> got = download(c.dtype, out, out_elems);

  std::vector<double> taps;
  const std::vector<double> ref =
      reference::resample_position(c.in_h, c.in_w, c.out_h, c.out_w, c.dim, table.values, &taps, c.antialias);
  // The fp32 weights: at most 8 roundings of intermediates below 8 (t + 1,
  // 1 - t, 2 - t and the cubic's Horner steps), so each is off by at most
  // 8 * 2^-21 = 2^-18; every weight is at most 1, so both weight sets move
  // the output by at most 2^-18 * sum|taps| each. The two 4-term fp32 dot
  // products add at most 8 u_f32 * sum|taps|. In all below 2^-16 * sum|taps|,
  // then the rounding to the type.
  std::vector<double> tol(out_elems);
  for (size_t i = 0; i < out_elems; ++i) tol[i] = rounding_error(c.dtype, ref[i]) + std::ldexp(taps[i], -16);
  EXPECT_TRUE(all_close(c.name, got, ref, tol));
}

INSTANTIATE_TEST_SUITE_P(Shapes, ResamplePositionKernel,
                         ::testing::Values(
                             // ViT-B/16 trained at 224 (14x14) run at 256 (16x16), and smaller.
                             ResampleCase{"f32_vit_14_to_16", f32, 14, 14, 16, 16, 64, true},
                             ResampleCase{"f16_vit_14_to_7x10", f16, 14, 14, 7, 10, 40, false},
                             // ViT-H/14 at 518: a 37x37 grid.
                             ResampleCase{"bf16_16_to_37", bf16, 16, 16, 37, 37, 32, false},
                             ResampleCase{"f32_identity", f32, 4, 4, 4, 4, 8, false},
                             ResampleCase{"f32_one_cell_to_3x2", f32, 1, 1, 3, 2, 5, true},
                             ResampleCase{"f16_2x3_to_5x4", f16, 2, 3, 5, 4, 8, false},
                             // Antialiased: DINOv2 with registers at 224 (37x37 to 16x16),
                             // growing, and one side kept.
                             ResampleCase{"f32_aa_37_to_16", f32, 37, 37, 16, 16, 64, true, true},
                             ResampleCase{"bf16_aa_37_to_16x22", bf16, 37, 37, 16, 22, 40, false, true},
                             ResampleCase{"f16_aa_3x4_to_5x9", f16, 3, 4, 5, 9, 8, false, true},
                             ResampleCase{"f32_aa_5x5_to_5x2", f32, 5, 5, 5, 2, 6, true, true}),
                         [](const ::testing::TestParamInfo<ResampleCase>& info) {
                           return std::string(info.param.name);
                         });

// ---- parameter validation (needs no device) -----------------------------------------------

template <typename Params, typename Launch>
void expect_refused(const Params& p, const char* reason, Launch launch) {
  std::string why;
  EXPECT_FALSE(can_implement(p, &why)) << reason;
  EXPECT_NE(why.find(reason), std::string::npos) << "reason: " << why;
  // The launcher refuses before touching the device.
  try {
    launch(p);
    ADD_FAILURE() << "no error for " << reason;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::unsupported) << e.what();
  }
}

alignas(16) char storage[4096];

TEST(TokenKernelParams, EmbedTokens) {
  EmbedTokensParams p;
  p.batch = 2;
  p.tokens = 3;
  p.dim = 8;
  p.prefix_rows = 2;
  p.input = storage;
  p.prefix = storage + 256;
  p.pos = storage + 512;
  p.output = storage + 1024;
  std::string why;
  EXPECT_TRUE(can_implement(p, &why)) << why;
  EmbedTokensParams bad = p;
  bad.tokens = -1;
  expect_refused(bad, "bad shape", embed_tokens);
  bad = p;
  bad.prefix_rows = -1;
  expect_refused(bad, "bad shape", embed_tokens);
  bad = p;
  bad.prefix = nullptr;
  expect_refused(bad, "null", embed_tokens);
  bad = p;
  bad.output = storage + 16;  // inside the input
  expect_refused(bad, "overlaps", embed_tokens);
}

TEST(TokenKernelParams, SelectToken) {
  SelectTokenParams p;
  p.batch = 2;
  p.tokens = 4;
  p.dim = 8;
  p.index = 3;
  p.input = storage;
  p.output = storage + 1024;
  std::string why;
  EXPECT_TRUE(can_implement(p, &why)) << why;
  SelectTokenParams bad = p;
  bad.index = 4;
  expect_refused(bad, "token index", select_token);
  bad = p;
  bad.output = storage + 32;
  expect_refused(bad, "overlaps", select_token);
}

TEST(TokenKernelParams, SliceTokens) {
  SliceTokensParams p;
  p.batch = 2;
  p.tokens = 4;
  p.dim = 8;
  p.first = 1;
  p.count = 3;
  p.input = storage;
  p.output = storage + 1024;
  std::string why;
  EXPECT_TRUE(can_implement(p, &why)) << why;
  SliceTokensParams bad = p;
  bad.count = 4;
  expect_refused(bad, "outside", slice_tokens);
  bad = p;
  bad.output = storage + 32;
  expect_refused(bad, "overlaps", slice_tokens);
}

TEST(TokenKernelParams, MeanTokens) {
  MeanTokensParams p;
  p.batch = 2;
  p.tokens = 4;
  p.dim = 8;
  p.first = 1;
  p.input = storage;
  p.output = storage + 1024;
  std::string why;
  EXPECT_TRUE(can_implement(p, &why)) << why;
  MeanTokensParams bad = p;
  bad.first = 4;
  expect_refused(bad, "first token", mean_tokens);
  bad = p;
  bad.input = nullptr;
  expect_refused(bad, "null", mean_tokens);
  bad = p;
  bad.output = storage + 32;
  expect_refused(bad, "overlaps", mean_tokens);
}

TEST(TokenKernelParams, Cast) {
  CastParams p;
  p.count = 16;
  p.input = storage;
  p.output = storage + 64;  // right after 16 f32 inputs
  std::string why;
  EXPECT_TRUE(can_implement(p, &why)) << why;
  CastParams bad = p;
  bad.to = DType::i64;
  expect_refused(bad, "not a float data type", cast);
  bad = p;
  bad.output = storage + 32;
  expect_refused(bad, "overlaps", cast);
}

TEST(TokenKernelParams, Expand) {
  ExpandParams p;
  p.bytes = 12;
  p.count = 3;
  p.input = storage;
  p.output = storage + 12;
  std::string why;
  EXPECT_TRUE(can_implement(p, &why)) << why;
  ExpandParams bad = p;
  bad.bytes = 0;
  expect_refused(bad, "bad size", expand);
  bad = p;
  bad.output = storage + 8;
  expect_refused(bad, "overlaps", expand);
}

TEST(TokenKernelParams, ResamplePosition) {
  ResamplePositionParams p;
  p.in_h = p.in_w = 2;
  p.out_h = p.out_w = 3;
  p.dim = 4;
  p.input = storage;
  p.output = storage + 1024;
  std::string why;
  EXPECT_TRUE(can_implement(p, &why)) << why;
  ResamplePositionParams bad = p;
  bad.out_w = 0;
  expect_refused(bad, "bad grids", resample_position);
  bad = p;
  bad.output = storage + 32;  // inside the 4 x 4 f32 input
  expect_refused(bad, "overlaps", resample_position);
}

}  // namespace
}  // namespace visionrt::kernels
