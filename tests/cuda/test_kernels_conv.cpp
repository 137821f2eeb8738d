// The CNN backbone's GPU ops against double-precision CPU references: cuDNN
// convolutions (kernels/conv2d_cudnn.hpp) on ResNet-50's shapes with every
// epilogue order and data type, max pooling, DETR's mask resize and the
// NCHW-to-NHWC transpose; plan reuse, CUDA graph capture (which fails if a
// launcher allocates, synchronises or uses another stream), and the shape and
// argument checks, which need no device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "reference/op_reference.hpp"
#include "kernel_test_util.hpp"
#include "kernels/conv2d_cudnn.hpp"
#include "kernels/mask_resize.hpp"
#include "kernels/max_pool.hpp"
#include "kernels/nchw_to_nhwc.hpp"

namespace visionrt::kernels {
namespace {

using namespace visionrt::kernels::testing;

constexpr auto no_act = Activation::none;
constexpr auto relu = Activation::relu;
constexpr auto act_first = ResidualOrder::act_then_residual;
constexpr auto residual_first = ResidualOrder::residual_then_act;

constexpr size_t kMaxWorkspace = size_t(256) << 20;


// ---- convolution --------------------------------------------------------------------

// Inputs, prepared weight and reference of one convolution.
struct ConvProblem {
  ConvShape shape;
  DeviceTensor x, w, bias, residual;
  DeviceBuffer weight;  // conv2d_prepare_weight's output
  std::vector<double> conv, terms;  // the reference convolution, and its scale
};

ConvProblem make_problem(const ConvShape& s, uint32_t seed) {
  ConvProblem p;
  p.shape = s;
  const int64_t ho = conv2d_out_h(s), wo = conv2d_out_w(s), k = s.kh * s.kw * s.Ci;
  // Weights of about 1.5 / sqrt(K) keep the outputs of order 1, where ReLU cuts.
  const float w_scale = 1.5f / std::sqrt(float(k));
  p.x = upload(s.dtype, random_floats(size_t(s.N * s.H * s.W * s.Ci), -1.f, 1.f, seed));
  p.w = upload(s.dtype, random_floats(size_t(s.Co * k), -w_scale, w_scale, seed + 1));
  p.bias = upload(s.dtype, random_floats(size_t(s.Co), -0.5f, 0.5f, seed + 2));
  if (s.epilogue.residual)
    p.residual = upload(s.dtype, random_floats(size_t(s.N * ho * wo * s.Co), -1.f, 1.f, seed + 3));
  p.weight = DeviceBuffer(conv2d_weight_bytes(s));
  conv2d_prepare_weight(s, p.w.buffer.data(), p.weight.data(), nullptr);
  const reference::ConvGeometry g{s.N, s.H, s.W, s.Ci, s.Co, s.kh, s.kw, s.stride, s.pad, s.dilation};
  p.conv = reference::conv2d(g, p.x.values, p.w.values, &p.terms);
  for (size_t i = 0; i < p.conv.size(); ++i)
    p.terms[i] += std::abs(p.bias.values[i % size_t(s.Co)]) +
                  (s.epilogue.residual ? std::abs(p.residual.values[i]) : 0.0);
  return p;
}

std::vector<double> expected(const ConvProblem& p) {
  const ConvShape& s = p.shape;
  // p.residual holds no values without a residual: the epilogue adds none.
  return reference::epilogue(p.conv, s.Co, p.bias.values, s.epilogue.act, s.epilogue.order, p.residual.values);
}

// Error bound of one output, from the sum of the absolute values of its terms
// (K = kh * kw * Ci products, the bias and the residual):
//  - fp32 accumulation of those K + 2 terms in any order and split errs by at
//    most (K + 2) u32 * terms (u32 = 2^-24), one more u32 covering each
//    product's rounding when f32 products are not exact (f16 and bf16
//    products are exact in fp32);
//  - TF32 keeps 10 of fp32's 23 mantissa bits: each operand may lose 2^-10
//    relative, so each product 2^-9;
//  - ReLU passes an error on unchanged; the zero channels padded onto Ci add
//    exact zeros;
//  - the unfused path rounds the convolution to the data type before the
//    epilogue (u of |conv|), and every path rounds the result once.
std::vector<double> tolerances(const ConvProblem& p, bool fused, const std::vector<double>& ref) {
  const ConvShape& s = p.shape;
  const double k = double(s.kh * s.kw * s.Ci);
  const double accumulate = (k + 3.0) * unit_roundoff(f32) + (s.tf32 ? std::ldexp(1.0, -9) : 0.0);
  std::vector<double> tol(ref.size());
  for (size_t i = 0; i < ref.size(); ++i)
    tol[i] = accumulate * p.terms[i] + (fused ? 0.0 : rounding_error(s.dtype, p.conv[i])) +
             rounding_error(s.dtype, ref[i]);
  return tol;
}

ConvArgs args_for(ConvProblem& p, void* out, const DeviceBuffer& workspace, void* stream) {
  ConvArgs a;
  a.x = p.x.buffer.data();
  a.weight = p.weight.data();
  a.bias = p.bias.buffer.data();
  a.residual = p.shape.epilogue.residual ? p.residual.buffer.data() : nullptr;
  a.out = out;
  a.workspace = workspace.data();
  a.workspace_bytes = workspace.size();
  a.stream = stream;
  return a;
}

size_t out_elements(const ConvShape& s) {
  return size_t(s.N * conv2d_out_h(s) * conv2d_out_w(s) * s.Co);
}

// Runs `plan` on p's inputs into a fresh, poisoned output, directly or as a
// captured graph on a stream of its own, and returns the output.
std::vector<double> run_conv(const ConvPlan& plan, ConvProblem& p, bool in_graph) {
  const size_t n = out_elements(p.shape);
  DeviceBuffer out = poisoned(p.shape.dtype, n);
  DeviceBuffer workspace;
  if (plan.workspace_bytes() > 0) workspace = DeviceBuffer(plan.workspace_bytes());
  ConvArgs a = args_for(p, out.data(), workspace, nullptr);
  launch_maybe_in_graph(a, in_graph, out, [&](const ConvArgs& args) { conv2d_cudnn(plan, args); });
  return download(p.shape.dtype, out, n);
}

struct ConvCase {
  const char* name;
  DType dtype;
  bool tf32;
  int64_t N, H, W, Ci, Co, k, stride, pad, dilation;
  Activation act;
  bool residual;
  ResidualOrder order;
  bool in_graph;
};

void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

ConvShape shape_of(const ConvCase& c) {
  ConvShape s;
  s.dtype = c.dtype;
  s.tf32 = c.tf32;
  s.N = c.N;
  s.H = c.H;
  s.W = c.W;
  s.Ci = c.Ci;
  s.Co = c.Co;
  s.kh = s.kw = c.k;
  s.stride = c.stride;
  s.pad = c.pad;
  s.dilation = c.dilation;
  s.epilogue = {c.act, c.residual, c.order};
  return s;
}

class ConvKernel : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const ConvCase& c = GetParam();
  const ConvShape s = shape_of(c);
  CudnnHandle cudnn;
  const ConvPlan plan = ConvPlan::create(s, kMaxWorkspace, cudnn.get());
  ASSERT_TRUE(plan.valid());
  EXPECT_LE(plan.workspace_bytes(), kMaxWorkspace);
  RecordProperty("fused", plan.fused() ? "yes" : "no");
  ConvProblem p = make_problem(s, 700u + uint32_t(c.Ci + c.Co + c.H));
  const std::vector<double> ref = expected(p);
  const std::vector<double> tol = tolerances(p, plan.fused(), ref);
  // The first run also loads what cuDNN loads lazily, before any capture.
  const std::vector<double> direct = run_conv(plan, p, false);
  EXPECT_TRUE(all_close(std::string(c.name) + (plan.fused() ? " (fused)" : " (unfused)"), direct,
                        ref, tol));
  if (c.in_graph) {
    const std::vector<double> replayed = run_conv(plan, p, true);
    EXPECT_TRUE(all_close("graph replay", replayed, ref, tol));
    // The same deterministic engine on the same inputs: bit for bit.
    EXPECT_TRUE(all_close("graph replay vs direct", replayed, direct, constant(direct.size(), 0.0)));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvKernel,
    ::testing::Values(
        // ResNet-50's stem: 7x7 stride 2 pad 3 on RGB (Ci 3, padded to 8 or 4),
        // on a 37x42 image (DETR's inputs are any size).
        ConvCase{"f16_stem", f16, false, 2, 37, 42, 3, 64, 7, 2, 3, 1, relu, false, act_first, true},
        ConvCase{"bf16_stem", bf16, false, 2, 37, 42, 3, 64, 7, 2, 3, 1, relu, false, act_first, false},
        ConvCase{"f32_stem", f32, false, 1, 37, 42, 3, 64, 7, 2, 3, 1, relu, false, act_first, true},
        ConvCase{"tf32_stem", f32, true, 1, 37, 42, 3, 64, 7, 2, 3, 1, relu, false, act_first, false},
        // Bottleneck 3x3 convolutions, stride 1 and the stride-2 first block of a stage.
        ConvCase{"f16_3x3", f16, false, 2, 14, 14, 64, 64, 3, 1, 1, 1, relu, false, act_first, false},
        ConvCase{"bf16_3x3_s2", bf16, false, 1, 15, 15, 128, 128, 3, 2, 1, 1, relu, false, act_first,
                 true},
        ConvCase{"f32_3x3", f32, false, 1, 10, 9, 32, 64, 3, 1, 1, 1, relu, false, act_first, false},
        // The block's last 1x1 with the shortcut inside the ReLU (ResNet's order).
        ConvCase{"f16_1x1_residual_relu", f16, false, 2, 7, 7, 64, 256, 1, 1, 0, 1, relu, true,
                 residual_first, true},
        ConvCase{"bf16_1x1_residual_relu", bf16, false, 2, 7, 7, 64, 256, 1, 1, 0, 1, relu, true,
                 residual_first, false},
        ConvCase{"f32_1x1_residual_relu", f32, false, 2, 9, 9, 128, 64, 1, 1, 0, 1, relu, true,
                 residual_first, true},
        ConvCase{"tf32_1x1_residual_relu", f32, true, 2, 9, 9, 128, 64, 1, 1, 0, 1, relu, true,
                 residual_first, false},
        // The stride-2 1x1 downsample shortcut: bias only.
        ConvCase{"f16_1x1_s2_downsample", f16, false, 2, 15, 15, 256, 512, 1, 2, 0, 1, no_act, false,
                 act_first, false},
        ConvCase{"f32_1x1_s2_downsample", f32, false, 1, 15, 15, 256, 512, 1, 2, 0, 1, no_act, false,
                 act_first, true},
        // DETR-DC5: the last stage's 3x3 dilated by 2 (pad 2) instead of strided.
        ConvCase{"f16_3x3_dilated_dc5", f16, false, 1, 9, 11, 256, 256, 3, 1, 2, 2, relu, false,
                 act_first, true},
        ConvCase{"bf16_3x3_dilated_dc5", bf16, false, 2, 9, 11, 128, 128, 3, 1, 2, 2, relu, false,
                 act_first, false},
        // The residual after the activation: the unfused path for every type.
        ConvCase{"f16_act_then_residual", f16, false, 2, 10, 12, 32, 48, 3, 1, 1, 1, relu, true,
                 act_first, true},
        ConvCase{"bf16_act_then_residual", bf16, false, 2, 10, 12, 32, 48, 3, 1, 1, 1, relu, true,
                 act_first, false},
        ConvCase{"f32_act_then_residual", f32, false, 2, 10, 12, 32, 48, 3, 1, 1, 1, relu, true,
                 act_first, false},
        // A residual without activation: both orders are the same sum.
        ConvCase{"bf16_residual_no_act", bf16, false, 1, 8, 8, 64, 64, 1, 1, 0, 1, no_act, true,
                 act_first, true},
        // Odd sizes: channels that are no whole vector, odd strides, a 5x5, dilation 3.
        ConvCase{"f32_odd_channels", f32, false, 3, 5, 7, 5, 7, 3, 2, 1, 1, relu, true,
                 residual_first, false},
        ConvCase{"f16_odd_channels", f16, false, 3, 6, 5, 5, 7, 3, 1, 0, 1, relu, true,
                 residual_first, true},
        ConvCase{"bf16_5x5_s3", bf16, false, 1, 11, 13, 13, 24, 5, 3, 2, 1, relu, false, act_first,
                 false},
        ConvCase{"tf32_dilation3", f32, true, 2, 12, 11, 20, 12, 3, 1, 3, 3, no_act, true, act_first,
                 false},
        ConvCase{"f16_one_pixel", f16, false, 1, 1, 1, 8, 16, 1, 1, 0, 1, relu, false, act_first,
                 false}),
    [](const ::testing::TestParamInfo<ConvCase>& info) { return std::string(info.param.name); });

// One plan serves every layer of its shape, and keeps working after a move.
TEST(ConvPlanTest, ServesManyLayersAndMoves) {
  VRT_REQUIRE_CUDA();
  const ConvShape s = shape_of(
      ConvCase{"", f16, false, 2, 8, 8, 64, 64, 3, 1, 1, 1, relu, true, residual_first, false});
  CudnnHandle cudnn;
  ConvPlan plan = ConvPlan::create(s, kMaxWorkspace, cudnn.get());
  for (uint32_t layer = 0; layer < 3; ++layer) {
    ConvProblem p = make_problem(s, 40u + 10u * layer);
    const std::vector<double> ref = expected(p);
    const std::vector<double> tol = tolerances(p, plan.fused(), ref);
    EXPECT_TRUE(all_close("layer " + std::to_string(layer), run_conv(plan, p, false), ref, tol));
    if (layer == 1) {
      ConvPlan moved = std::move(plan);
      EXPECT_FALSE(plan.valid());  // NOLINT(bugprone-use-after-move): checks the moved-from state
      EXPECT_TRUE(moved.valid());
      EXPECT_THROW(run_conv(plan, p, false), Error);
      EXPECT_TRUE(all_close("moved plan", run_conv(moved, p, false), ref, tol));
      plan = std::move(moved);
    }
  }
}

// A run whose arguments break the plan's rules throws before cuDNN sees them.
TEST(ConvPlanTest, RefusesArgumentsAtRun) {
  VRT_REQUIRE_CUDA();
  const ConvShape s =
      shape_of(ConvCase{"", f16, false, 1, 9, 9, 3, 16, 7, 2, 3, 1, relu, false, act_first, false});
  CudnnHandle cudnn;
  const ConvPlan plan = ConvPlan::create(s, kMaxWorkspace, cudnn.get());
  // The padded copy of x lives in the workspace.
  EXPECT_GE(plan.workspace_bytes(), size_t(9 * 9 * 8 * 2));
  ConvProblem p = make_problem(s, 5u);
  DeviceBuffer out = poisoned(s.dtype, out_elements(s) + 8);
  DeviceBuffer workspace(plan.workspace_bytes());
  const ConvArgs a = args_for(p, out.data(), workspace, nullptr);
  std::string why;
  EXPECT_TRUE(can_implement(plan, a, &why)) << why;
  ConvArgs bad = a;
  bad.out = static_cast<char*>(out.data()) + 2;
  try {
    conv2d_cudnn(plan, bad);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::unsupported);
    EXPECT_NE(std::string(e.what()).find("aligned"), std::string::npos) << e.what();
  }
  bad = a;
  bad.workspace_bytes = plan.workspace_bytes() - 1;
  EXPECT_FALSE(can_implement(plan, bad, &why));
  EXPECT_NE(why.find("workspace"), std::string::npos) << why;
  EXPECT_THROW(conv2d_cudnn(plan, bad), Error);
}

// The prepared weight is the weight with zero channels appended.
TEST(ConvPlanTest, PreparesPaddedWeight) {
  VRT_REQUIRE_CUDA();
  for (DType t : {f32, f16, bf16}) {
    const ConvShape s =
        shape_of(ConvCase{"", t, false, 1, 4, 4, 3, 5, 2, 1, 0, 1, no_act, false, act_first, false});
    const int64_t cw = conv2d_weight_channels(s);
    const DeviceTensor w = upload(t, random_floats(size_t(5 * 2 * 2 * 3), -1.f, 1.f, 9u));
    DeviceBuffer prepared = poisoned(t, conv2d_weight_bytes(s) / dtype_size(t));
    conv2d_prepare_weight(s, w.buffer.data(), prepared.data(), nullptr);
    const std::vector<double> got = download(t, prepared, size_t(5 * 2 * 2 * cw));
    std::vector<double> want(got.size(), 0.0);
    for (size_t r = 0; r < 5 * 2 * 2; ++r)
      for (size_t c = 0; c < 3; ++c) want[r * size_t(cw) + c] = w.values[r * 3 + c];
    EXPECT_TRUE(all_close(dtype_name(t), got, want, constant(got.size(), 0.0)));
  }
}

// ---- max pooling --------------------------------------------------------------------

struct PoolCase {
  const char* name;
  DType dtype;
  int64_t batch, height, width, channels;
  int kernel, stride, pad;
  bool in_graph;
};

void PrintTo(const PoolCase& c, std::ostream* os) { *os << c.name; }

class MaxPoolKernel : public ::testing::TestWithParam<PoolCase> {};

TEST_P(MaxPoolKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const PoolCase& c = GetParam();
  const DeviceTensor x = upload(
      c.dtype, random_floats(size_t(c.batch * c.height * c.width * c.channels), -3.f, 3.f, 31u));
  const int64_t ho = max_pool_out_size(c.height, c.kernel, c.stride, c.pad);
  const int64_t wo = max_pool_out_size(c.width, c.kernel, c.stride, c.pad);
  const size_t n = size_t(c.batch * ho * wo * c.channels);
  DeviceBuffer out = poisoned(c.dtype, n);
  MaxPoolParams p;
  p.dtype = c.dtype;
  p.batch = c.batch;
  p.height = c.height;
  p.width = c.width;
  p.channels = c.channels;
  p.kernel = c.kernel;
  p.stride = c.stride;
  p.pad = c.pad;
  p.input = x.buffer.data();
  p.output = out.data();
  launch_maybe_in_graph(p, c.in_graph, out, max_pool);
  // A maximum of stored values: exact.
  const std::vector<double> ref = reference::max_pool(c.batch, c.height, c.width, c.channels,
                                                      c.kernel, c.stride, c.pad, x.values);
  EXPECT_TRUE(all_close(c.name, download(c.dtype, out, n), ref, constant(n, 0.0)));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MaxPoolKernel,
    ::testing::Values(
        // ResNet's pool after the stem: 3x3, stride 2, pad 1, 64 channels.
        PoolCase{"f16_resnet", f16, 2, 19, 21, 64, 3, 2, 1, true},
        PoolCase{"bf16_resnet", bf16, 1, 20, 20, 64, 3, 2, 1, false},
        PoolCase{"f32_resnet", f32, 2, 19, 21, 64, 3, 2, 1, false},
        // Channel counts that are no whole vector (the element-wise path).
        PoolCase{"f16_3_channels", f16, 2, 9, 7, 3, 3, 2, 1, true},
        PoolCase{"f32_5_channels", f32, 1, 8, 11, 5, 2, 2, 0, false},
        PoolCase{"bf16_window_4_stride_3", bf16, 3, 13, 10, 24, 4, 3, 2, false}),
    [](const ::testing::TestParamInfo<PoolCase>& info) { return std::string(info.param.name); });

// ---- mask resize ------------------------------------------------------------------------

struct MaskCase {
  const char* name;
  int64_t batch, in_h, in_w, out_h, out_w;
  bool in_graph;
};

void PrintTo(const MaskCase& c, std::ostream* os) { *os << c.name; }

class MaskResizeKernel : public ::testing::TestWithParam<MaskCase> {};

TEST_P(MaskResizeKernel, MatchesReferenceExactly) {
  VRT_REQUIRE_CUDA();
  const MaskCase& c = GetParam();
  // A padding mask (ones over a per-image region) plus scattered values that
  // are neither 0 nor 1, so both the index choice and the test for non-zero count.
  const size_t in = size_t(c.batch * c.in_h * c.in_w);
  std::vector<float> mask(in, 0.f);
  const std::vector<float> noise = random_floats(in, 0.f, 1.f, 77u);
  for (int64_t n = 0; n < c.batch; ++n)
    for (int64_t y = 0; y < c.in_h; ++y)
      for (int64_t x = 0; x < c.in_w; ++x) {
        const size_t i = size_t((n * c.in_h + y) * c.in_w + x);
        const bool valid = y < c.in_h - n && x < c.in_w - 2 * n;
        mask[i] = valid ? 1.f : (noise[i] < 0.1f ? -noise[i] : 0.f);
      }
  const DeviceTensor m = upload(f32, mask);
  const size_t n = size_t(c.batch * c.out_h * c.out_w);
  DeviceBuffer out = poisoned(f32, n);
  MaskResizeParams p;
  p.batch = c.batch;
  p.in_h = c.in_h;
  p.in_w = c.in_w;
  p.out_h = c.out_h;
  p.out_w = c.out_w;
  p.mask = static_cast<const float*>(m.buffer.data());
  p.output = static_cast<float*>(out.data());
  launch_maybe_in_graph(p, c.in_graph, out, mask_resize);
  const std::vector<double> want = reference::mask_resize(c.batch, c.in_h, c.in_w, c.out_h, c.out_w, m.values);
  EXPECT_TRUE(all_close(c.name, download(f32, out, n), want, constant(n, 0.0)));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MaskResizeKernel,
    ::testing::Values(
        // DETR: an 800x1066 batch mask to the stride-32 feature map, 25x34.
        MaskCase{"detr_stride32", 2, 800, 1066, 25, 34, true},
        // Ratios that are not whole numbers (and DC5's stride 16).
        MaskCase{"odd_ratio", 3, 37, 53, 5, 7, false}, MaskCase{"dc5_stride16", 1, 600, 905, 38, 57, false},
        // Upsampling and identity.
        MaskCase{"upsample", 2, 3, 4, 8, 9, true}, MaskCase{"identity", 1, 6, 5, 6, 5, false}),
    [](const ::testing::TestParamInfo<MaskCase>& info) { return std::string(info.param.name); });

// ---- NCHW to NHWC ---------------------------------------------------------------------------

struct TransposeCase {
  const char* name;
  DType dtype;
  int64_t batch, channels, height, width;
  bool in_graph;
};

void PrintTo(const TransposeCase& c, std::ostream* os) { *os << c.name; }

class NchwToNhwcKernel : public ::testing::TestWithParam<TransposeCase> {};

TEST_P(NchwToNhwcKernel, MovesEveryElement) {
  VRT_REQUIRE_CUDA();
  const TransposeCase& c = GetParam();
  const size_t n = size_t(c.batch * c.channels * c.height * c.width);
  const std::vector<uint8_t> bytes = encode(c.dtype, random_floats(n, -5.f, 5.f, 51u));
  DeviceBuffer in(bytes.size());
  in.upload(bytes.data(), bytes.size());
  DeviceBuffer out(bytes.size());
  out.fill_bytes(0xff);
  NchwToNhwcParams p;
  p.dtype = c.dtype;
  p.batch = c.batch;
  p.channels = c.channels;
  p.height = c.height;
  p.width = c.width;
  p.input = in.data();
  p.output = out.data();
  launch_maybe_in_graph(p, c.in_graph, out, nchw_to_nhwc);
  device_synchronize();
  std::vector<uint8_t> got(bytes.size());
  out.download(got.data(), got.size());
  // A copy: bit for bit.
  EXPECT_TRUE(got == reference::nchw_to_nhwc(c.batch, c.channels, c.height, c.width, bytes,
                                             dtype_size(c.dtype)))
      << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, NchwToNhwcKernel,
    ::testing::Values(
        // The image batch: 3 channels (the element-wise path).
        TransposeCase{"f32_image", f32, 2, 3, 37, 45, true},
        TransposeCase{"f16_image", f16, 1, 3, 64, 48, false},
        // Many channels (the tiled path), sizes that are no whole tile.
        TransposeCase{"bf16_wide", bf16, 2, 70, 9, 11, true},
        TransposeCase{"f32_wide", f32, 1, 256, 7, 5, false},
        TransposeCase{"f16_one_pixel", f16, 3, 33, 1, 1, false}),
    [](const ::testing::TestParamInfo<TransposeCase>& info) { return std::string(info.param.name); });

// ---- parameter validation (needs no device) ---------------------------------------------------

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

alignas(256) char storage[1 << 18];

ConvShape resnet_block_conv3() {
  return shape_of(
      ConvCase{"", f16, false, 2, 7, 7, 64, 256, 1, 1, 0, 1, relu, true, residual_first, false});
}

TEST(ConvParams, OutputSizesAndPaddedChannels) {
  ConvShape stem = shape_of(
      ConvCase{"", f16, false, 1, 224, 224, 3, 64, 7, 2, 3, 1, relu, false, act_first, false});
  EXPECT_EQ(conv2d_out_h(stem), 112);
  EXPECT_EQ(conv2d_out_w(stem), 112);
  EXPECT_EQ(conv2d_weight_channels(stem), 8);
  EXPECT_EQ(conv2d_weight_bytes(stem), size_t(64 * 7 * 7 * 8 * 2));
  stem.dtype = bf16;
  EXPECT_EQ(conv2d_weight_channels(stem), 8);
  stem.dtype = f32;
  EXPECT_EQ(conv2d_weight_channels(stem), 4);
  stem.Ci = 5;
  EXPECT_EQ(conv2d_weight_channels(stem), 8);
  // Whole vectors stay as they are.
  EXPECT_EQ(conv2d_weight_channels(resnet_block_conv3()), 64);
  // DC5: dilation 2, pad 2 keeps the size.
  const ConvShape dc5 = shape_of(
      ConvCase{"", f16, false, 1, 25, 34, 512, 512, 3, 1, 2, 2, relu, false, act_first, false});
  EXPECT_EQ(conv2d_out_h(dc5), 25);
  EXPECT_EQ(conv2d_out_w(dc5), 34);
}

TEST(ConvParams, RefusesBadShapes) {
  const ConvShape good = resnet_block_conv3();
  std::string why;
  EXPECT_TRUE(can_implement(good, &why)) << why;
  auto refused = [&](const ConvShape& s, const char* reason) {
    std::string w;
    EXPECT_FALSE(can_implement(s, &w)) << reason;
    EXPECT_NE(w.find(reason), std::string::npos) << w;
    // create refuses the shape before it needs a handle.
    try {
      ConvPlan::create(s, 0, nullptr);
      ADD_FAILURE() << "no error for " << reason;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), StatusCode::unsupported);
      EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
    }
  };
  ConvShape s = good;
  s.dtype = DType::i64;
  refused(s, "not a float data type");
  s = good;
  s.epilogue.act = Activation::gelu_erf;
  refused(s, "ReLU or none");
  s = good;
  s.epilogue.act = Activation::silu;
  refused(s, "ReLU or none");
  s = good;
  s.epilogue.order = static_cast<ResidualOrder>(3);
  refused(s, "unknown residual order");
  s = good;
  s.tf32 = true;  // f16 data
  refused(s, "tf32 needs f32");
  s = good;
  s.Ci = 0;
  refused(s, "must be positive");
  s = good;
  s.stride = 0;
  refused(s, "bad stride");
  s = good;
  s.pad = -1;
  refused(s, "bad stride");
  s = good;
  s.H = s.W = 4;
  s.kh = s.kw = 5;  // a 5x5 kernel on 4x4 without padding; (4 - 5) / 2 + 1 would be 1
  s.stride = 2;
  refused(s, "does not fit");
  s = good;
  s.Co = int64_t(1) << 33;
  refused(s, "int32");
  s = good;
  s.N = 4096;
  s.H = s.W = 512;  // 2^36 input elements
  refused(s, "2^31 elements");
  s = good;
  s.dtype = f32;
  s.tf32 = true;
  EXPECT_TRUE(can_implement(s, &why)) << why;
  // A good shape without a handle.
  try {
    ConvPlan::create(good, 0, nullptr);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::unsupported);
  }
}

TEST(ConvParams, RefusesBadArguments) {
  // Addresses only: nothing is dereferenced. f16: x 12544 B, weight 32768 B,
  // bias 512 B, out and residual 50176 B each, laid out back to back.
  const ConvShape s = resnet_block_conv3();
  ConvArgs a;
  a.x = storage;
  a.weight = storage + 12544;
  a.bias = storage + 45312;
  a.out = storage + 45824;
  a.residual = storage + 96000;
  std::string why;
  EXPECT_TRUE(can_implement(s, a, &why)) << why;
  ConvShape plain = s;
  plain.epilogue.residual = false;

  auto refused = [&](const ConvShape& shape, const ConvArgs& bad, const char* reason) {
    std::string w;
    EXPECT_FALSE(can_implement(shape, bad, &w)) << reason;
    EXPECT_NE(w.find(reason), std::string::npos) << w;
  };
  ConvArgs bad = a;
  bad.residual = nullptr;
  refused(s, bad, "residual but none");
  refused(plain, a, "the shape has none");
  bad = a;
  bad.bias = nullptr;
  refused(s, bad, "null");
  bad = a;
  bad.x = storage + 8;
  refused(s, bad, "aligned");
  bad = a;
  bad.out = storage + 1024;  // inside x
  refused(s, bad, "overlaps x or weight");
  bad = a;
  bad.out = storage + 45328;  // over the bias, clear of the weight and the residual
  refused(s, bad, "overlaps bias");
  bad = a;
  bad.residual = storage + 45824 + 16;
  refused(s, bad, "overlaps residual");

  // Plans: an empty one is refused, by can_implement and by conv2d_cudnn.
  const ConvPlan empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_FALSE(can_implement(empty, a, &why));
  EXPECT_NE(why.find("empty"), std::string::npos) << why;
  try {
    conv2d_cudnn(empty, a);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::unsupported);
  }
  // Weight preparation checks its buffers before it launches anything.
  try {
    conv2d_prepare_weight(s, storage, storage + 8, nullptr);  // misaligned, overlapping
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::unsupported);
  }
}

TEST(PoolKernelParams, MaxPool) {
  MaxPoolParams p;
  p.batch = 2;
  p.height = p.width = 8;
  p.channels = 4;
  p.kernel = 3;
  p.stride = 2;
  p.pad = 1;
  p.input = storage;  // 2048 B of f32
  p.output = storage + 4096;
  std::string why;
  EXPECT_TRUE(can_implement(p, &why)) << why;
  EXPECT_EQ(max_pool_out_size(8, 3, 2, 1), 4);
  EXPECT_EQ(max_pool_out_size(112, 3, 2, 1), 56);
  MaxPoolParams bad = p;
  bad.stride = 0;
  expect_refused(bad, "bad window", max_pool);
  bad = p;
  bad.kernel = 11;  // one wider than 8 + 2 pads; (10 - 11) / 2 + 1 would be 1
  expect_refused(bad, "does not fit", max_pool);
  bad = p;
  bad.channels = 0;
  expect_refused(bad, "bad shape", max_pool);
  bad = p;
  bad.dtype = static_cast<DType>(200);
  expect_refused(bad, "not a float data type", max_pool);
  bad = p;
  bad.output = storage + 1024;
  expect_refused(bad, "overlaps", max_pool);
}

TEST(PoolKernelParams, MaskResize) {
  MaskResizeParams p;
  p.batch = 2;
  p.in_h = 16;
  p.in_w = 12;
  p.out_h = 4;
  p.out_w = 3;
  p.mask = reinterpret_cast<const float*>(storage);  // 1536 B
  p.output = reinterpret_cast<float*>(storage + 2048);
  std::string why;
  EXPECT_TRUE(can_implement(p, &why)) << why;
  MaskResizeParams bad = p;
  bad.out_w = 0;
  expect_refused(bad, "bad sizes", mask_resize);
  bad = p;
  bad.in_h = (int64_t(1) << 24) + 1;
  expect_refused(bad, "2^24", mask_resize);
  bad = p;
  bad.mask = nullptr;
  expect_refused(bad, "null", mask_resize);
  bad = p;
  bad.output = reinterpret_cast<float*>(storage + 512);
  expect_refused(bad, "overlaps", mask_resize);
}

TEST(PoolKernelParams, NchwToNhwc) {
  NchwToNhwcParams p;
  p.dtype = f16;
  p.batch = 2;
  p.channels = 3;
  p.height = 5;
  p.width = 7;
  p.input = storage;  // 420 B
  p.output = storage + 512;
  std::string why;
  EXPECT_TRUE(can_implement(p, &why)) << why;
  NchwToNhwcParams bad = p;
  bad.width = 0;
  expect_refused(bad, "bad shape", nchw_to_nhwc);
  bad = p;
  bad.dtype = DType::i32;
  expect_refused(bad, "not a float data type", nchw_to_nhwc);
  bad = p;
  bad.height = int64_t(1) << 40;
  expect_refused(bad, "too large", nchw_to_nhwc);
  bad = p;
  bad.output = storage + 200;
  expect_refused(bad, "overlaps", nchw_to_nhwc);
}

}  // namespace
}  // namespace visionrt::kernels
