// The CUDA kernels of D-FINE's HGNetV2 backbone where the backend-ops test
// does not reach: depthwise convolutions over more items than the grid
// covers at once, on the vector path and off it, inside graph capture; the zero pad
// inside graph capture; the affine clamp in place with NaN and infinities.
// Then every launcher's parameter checks, which need no device.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "kernel_test_util.hpp"
#include "kernels/affine.hpp"
#include "kernels/depthwise_conv2d.hpp"
#include "kernels/pad_spatial.hpp"
#include "reference/op_reference.hpp"

namespace visionrt::kernels {
namespace {

using namespace visionrt::kernels::testing;

constexpr float kInf = std::numeric_limits<float>::infinity();

std::string dtype_case_name(const ::testing::TestParamInfo<DType>& info) { return dtype_name(info.param); }

// ---- depthwise convolution ------------------------------------------------------------

struct DepthwiseCase {
  const char* name;
  DType dtype;
  int64_t h, w, c;
  int kernel, stride;
  Activation act;
  bool residual;
  ResidualOrder order;
  bool in_graph;
};

void PrintTo(const DepthwiseCase& c, std::ostream* os) { *os << c.name; }

class DepthwiseConv2dKernel : public ::testing::TestWithParam<DepthwiseCase> {};

TEST_P(DepthwiseConv2dKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const DepthwiseCase& c = GetParam();
  const int64_t n = 2, pad = (c.kernel - 1) / 2;
  reference::ConvGeometry g{n, c.h, c.w, c.c, c.c, c.kernel, c.kernel, c.stride, pad, 1};
  g.groups = c.c;
  const int64_t ho = g.out_h(), wo = g.out_w();
  ASSERT_EQ(ho, depthwise_conv2d_out_size(c.h, c.kernel, c.stride, int(pad), 1));
  DeviceTensor x = upload(c.dtype, random_floats(size_t(n * c.h * c.w * c.c), -1.f, 1.f, 71));
  DeviceTensor w = upload(c.dtype, random_floats(size_t(c.c * c.kernel * c.kernel), -1.f, 1.f, 72));
  DeviceTensor b = upload(c.dtype, random_floats(size_t(c.c), -1.f, 1.f, 73));
  const size_t count = size_t(n * ho * wo * c.c);
  DeviceTensor r = upload(c.dtype, random_floats(c.residual ? count : 1, -1.f, 1.f, 74));
  DeviceBuffer out = poisoned(c.dtype, count);
  DepthwiseConv2dParams p;
  p.dtype = c.dtype;
  p.batch = n;
  p.height = c.h;
  p.width = c.w;
  p.channels = c.c;
  p.kernel_h = p.kernel_w = c.kernel;
  p.stride = c.stride;
  p.pad = int(pad);
  p.epilogue.act = c.act;
  p.epilogue.residual = c.residual;
  p.epilogue.order = c.order;
  p.input = x.buffer.data();
  p.weight = w.buffer.data();
  p.bias = b.buffer.data();
  p.residual = c.residual ? r.buffer.data() : nullptr;
  p.output = out.data();
  std::string why;
  ASSERT_TRUE(can_implement(p, &why)) << why;
  launch_maybe_in_graph(p, c.in_graph, out, [](const DepthwiseConv2dParams& q) { depthwise_conv2d(q); });
  std::vector<double> terms;
  const std::vector<double> conv = reference::conv2d(g, x.values, w.values, &terms);
  const std::vector<double> ref = reference::epilogue(conv, c.c, b.values, c.act, c.order,
                                                      c.residual ? r.values : std::vector<double>{});
  // kernel^2 products summed in fp32, the bias and residual added: a few ulp
  // of fp32 of the magnitudes summed; then one rounding to the dtype.
  std::vector<double> tol(count);
  for (size_t i = 0; i < count; ++i)
    tol[i] = rounding_error(c.dtype, ref[i]) + (c.kernel * c.kernel + 2) * std::ldexp(1.0, -23) * (terms[i] + 2);
  EXPECT_TRUE(all_close(c.name, download(c.dtype, out, count), ref, tol));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DepthwiseConv2dKernel,
    ::testing::Values(
        DepthwiseCase{"f16_vector_k5_s2_res", f16, 33, 31, 72, 5, 2, Activation::relu, true,
                      ResidualOrder::act_then_residual, false},
        DepthwiseCase{"bf16_odd_channels_in_graph", bf16, 17, 19, 21, 3, 1, Activation::relu, false,
                      ResidualOrder::residual_then_act, true},
        DepthwiseCase{"f32_vector_k3_s2_in_graph", f32, 40, 24, 64, 3, 2, Activation::none, true,
                      ResidualOrder::residual_then_act, true},
        // More items than the grid-stride loop's grid covers at once.
        DepthwiseCase{"f32_odd_channels_past_one_grid", f32, 300, 300, 13, 3, 1, Activation::relu, true,
                      ResidualOrder::residual_then_act, false}),
    [](const ::testing::TestParamInfo<DepthwiseCase>& info) { return std::string(info.param.name); });

// ---- zero pad -----------------------------------------------------------------------------

class PadSpatialKernel : public ::testing::TestWithParam<DType> {};

TEST_P(PadSpatialKernel, ExactInGraph) {
  VRT_REQUIRE_CUDA();
  const DType t = GetParam();
  // Vector channels, then single elements; HGNetV2's (0, 1), then both sides.
  for (auto [h, w, c, before, after] : {std::tuple{31, 29, 32, 0, 1}, {9, 7, 5, 2, 3}}) {
    DeviceTensor x = upload(t, random_floats(size_t(2 * h * w * c), -1.f, 1.f, 75));
    const int64_t ho = h + before + after, wo = w + before + after;
    const size_t count = size_t(2 * ho * wo * c);
    DeviceBuffer out = poisoned(t, count);
    PadSpatialParams p;
    p.dtype = t;
    p.batch = 2;
    p.height = h;
    p.width = w;
    p.channels = c;
    p.before = before;
    p.after = after;
    p.input = x.buffer.data();
    p.output = out.data();
    launch_maybe_in_graph(p, true, out, [](const PadSpatialParams& q) { pad_spatial(q); });
    const std::vector<double> ref = reference::pad_spatial(2, h, w, c, before, after, x.values);
    EXPECT_TRUE(all_close(std::to_string(c) + " channels", download(t, out, count), ref, constant(count, 0.0)));
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, PadSpatialKernel, ::testing::Values(f32, f16, bf16), dtype_case_name);

// ---- affine -------------------------------------------------------------------------------

class AffineKernel : public ::testing::TestWithParam<DType> {};

TEST_P(AffineKernel, InPlaceKeepsNaNAndBoundsInfinities) {
  VRT_REQUIRE_CUDA();
  const DType t = GetParam();
  for (size_t count : {size_t(64), size_t(77)}) {  // whole vectors, then single elements
    for (auto [lo, hi] : {std::pair{-0.5f, 0.75f}, {-kInf, kInf}}) {
      std::vector<float> v = random_floats(count, -2.f, 2.f, 76);
      v[0] = std::numeric_limits<float>::quiet_NaN();
      v[1] = kInf;
      v[2] = -kInf;
      DeviceTensor x = upload(t, v);
      AffineParams p;
      p.dtype = t;
      p.count = int64_t(count);
      p.scale = 1.3f;
      p.shift = -0.2f;
      p.lo = lo;
      p.hi = hi;
      p.input = x.buffer.data();
      p.output = x.buffer.data();
      affine(p);
      std::vector<double> got = download(t, x.buffer, count);
      std::vector<double> ref = reference::affine(p.scale, p.shift, lo, hi, x.values);
      const std::string what = std::to_string(count) + " elements, lo " + std::to_string(lo);
      EXPECT_TRUE(std::isnan(got[0])) << what << ": NaN became " << got[0];
      EXPECT_EQ(got[1], std::isinf(hi) ? INFINITY : double(round_to(t, hi))) << what;
      EXPECT_EQ(got[2], std::isinf(lo) ? -INFINITY : double(round_to(t, lo))) << what;
      for (size_t i = 0; i < 3; ++i) got[i] = ref[i] = 0.0;
      std::vector<double> tol(count);
      for (size_t i = 0; i < count; ++i) tol[i] = rounding_error(t, ref[i]) + 4 * std::ldexp(1.0, -24) * (1 + std::abs(ref[i]));
      EXPECT_TRUE(all_close(what, got, ref, tol));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, AffineKernel, ::testing::Values(f32, f16, bf16), dtype_case_name);

// ---- parameter validation (needs no device) -------------------------------------------

alignas(256) char storage[1 << 16];

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

TEST(HgnetKernelParams, DepthwiseConv2d) {
  EXPECT_EQ(depthwise_conv2d_out_size(9, 3, 2, 1, 1), 5);
  EXPECT_EQ(depthwise_conv2d_out_size(8, 5, 2, 2, 1), 4);
  EXPECT_EQ(depthwise_conv2d_out_size(1, 3, 1, 1, 1), 1);
  EXPECT_EQ(depthwise_conv2d_out_size(2, 5, 1, 0, 1), 0);
  EXPECT_EQ(depthwise_conv2d_out_size(9, 3, 0, 1, 1), 0);
  DepthwiseConv2dParams p;
  p.batch = 2;
  p.height = 7;
  p.width = 5;
  p.channels = 8;
  p.kernel_h = p.kernel_w = 3;
  p.pad = 1;
  p.input = storage;            // 2240 B of f32
  p.weight = storage + 4096;    // 288 B
  p.bias = storage + 8192;      // 32 B
  p.output = storage + 12288;   // 2240 B
  p.residual = storage + 16384;
  p.epilogue.residual = true;
  std::string why;
  EXPECT_TRUE(can_implement(p, &why)) << why;
  DepthwiseConv2dParams bad = p;
  bad.epilogue.act = Activation::silu;
  expect_refused(bad, "no activation", depthwise_conv2d);
  bad = p;
  bad.residual = nullptr;
  expect_refused(bad, "none was given", depthwise_conv2d);
  bad = p;
  bad.epilogue.residual = false;
  expect_refused(bad, "the epilogue has none", depthwise_conv2d);
  bad = p;
  bad.stride = 0;
  expect_refused(bad, "bad window", depthwise_conv2d);
  bad = p;
  bad.pad = 0;
  bad.kernel_h = 9;
  expect_refused(bad, "does not fit", depthwise_conv2d);
  bad = p;
  bad.dtype = DType::i32;
  expect_refused(bad, "not a float data type", depthwise_conv2d);
  bad = p;
  bad.bias = nullptr;
  expect_refused(bad, "null", depthwise_conv2d);
  bad = p;
  bad.output = storage + 1024;
  expect_refused(bad, "overlaps", depthwise_conv2d);
  bad = p;
  bad.output = storage + 16384;  // over the residual
  expect_refused(bad, "overlaps", depthwise_conv2d);
}

TEST(HgnetKernelParams, PadSpatial) {
  PadSpatialParams p;
  p.batch = 2;
  p.height = 7;
  p.width = 5;
  p.channels = 4;
  p.after = 1;
  p.input = storage;  // 1120 B of f32
  p.output = storage + 2048;
  std::string why;
  EXPECT_TRUE(can_implement(p, &why)) << why;
  PadSpatialParams bad = p;
  bad.before = -1;
  expect_refused(bad, "bad padding", pad_spatial);
  bad = p;
  bad.channels = 0;
  expect_refused(bad, "bad shape", pad_spatial);
  bad = p;
  bad.dtype = DType::i32;
  expect_refused(bad, "not a float data type", pad_spatial);
  bad = p;
  bad.output = storage + 1024;
  expect_refused(bad, "overlaps", pad_spatial);
  bad = p;
  bad.input = nullptr;
  expect_refused(bad, "null", pad_spatial);
}

TEST(HgnetKernelParams, Affine) {
  AffineParams p;
  p.count = 100;
  p.lo = -1.f;
  p.hi = 1.f;
  p.input = storage;
  p.output = storage;  // in place
  std::string why;
  EXPECT_TRUE(can_implement(p, &why)) << why;
  AffineParams bad = p;
  bad.output = storage + 8;
  expect_refused(bad, "partly overlaps", affine);
  bad = p;
  bad.count = -1;
  expect_refused(bad, "bad count", affine);
  bad = p;
  bad.lo = 2.f;
  expect_refused(bad, "must not exceed", affine);
  bad = p;
  bad.hi = std::numeric_limits<float>::quiet_NaN();
  expect_refused(bad, "must not exceed", affine);
  bad = p;
  bad.dtype = DType::i32;
  expect_refused(bad, "not a float data type", affine);
}

}  // namespace
}  // namespace visionrt::kernels
