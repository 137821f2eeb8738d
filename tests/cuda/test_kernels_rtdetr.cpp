// The real-time DETRs' CUDA kernels where the backend-ops test does not
// reach: ceil-mode average pooling on the vector path and inside graph
// capture. Then every launcher's parameter checks, which need no device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.hpp"
#include "kernel_test_util.hpp"
#include "kernels/avg_pool.hpp"
#include "kernels/concat.hpp"
#include "kernels/upsample_nearest.hpp"
#include "reference/op_reference.hpp"

namespace visionrt::kernels {
namespace {

using namespace visionrt::kernels::testing;

// ---- average pooling ----------------------------------------------------------------

struct AvgPoolCase {
  const char* name;
  DType dtype;
  int64_t h, w, c;
  int kernel, stride;
  bool in_graph;
};

void PrintTo(const AvgPoolCase& c, std::ostream* os) { *os << c.name; }

class AvgPoolKernel : public ::testing::TestWithParam<AvgPoolCase> {};

TEST_P(AvgPoolKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const AvgPoolCase& c = GetParam();
  const int64_t n = 2, ho = avg_pool_out_size(c.h, c.kernel, c.stride), wo = avg_pool_out_size(c.w, c.kernel, c.stride);
  DeviceTensor x = upload(c.dtype, random_floats(size_t(n * c.h * c.w * c.c), -1.f, 1.f, 61));
  const size_t count = size_t(n * ho * wo * c.c);
  DeviceBuffer out = poisoned(c.dtype, count);
  AvgPoolParams p;
  p.dtype = c.dtype;
  p.batch = n;
  p.height = c.h;
  p.width = c.w;
  p.channels = c.c;
  p.kernel = c.kernel;
  p.stride = c.stride;
  p.input = x.buffer.data();
  p.output = out.data();
  std::string why;
  ASSERT_TRUE(can_implement(p, &why)) << why;
  launch_maybe_in_graph(p, c.in_graph, out, [](const AvgPoolParams& q) { avg_pool(q); });
  const std::vector<double> got = download(c.dtype, out, count);
  const std::vector<double> ref = reference::avg_pool(n, c.h, c.w, c.c, c.kernel, c.stride, x.values);
  // At most kernel^2 terms of |x| <= 1 summed in fp32, a reciprocal and a
  // product: 4 ulp of fp32 a term; then one rounding to the dtype.
  std::vector<double> tol(count);
  for (size_t i = 0; i < count; ++i)
    tol[i] = rounding_error(c.dtype, ref[i]) + 4.0 * c.kernel * c.kernel * std::ldexp(1.0, -24);
  EXPECT_TRUE(all_close(c.name, got, ref, tol));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AvgPoolKernel,
    ::testing::Values(AvgPoolCase{"f16_vector_ceil", f16, 7, 5, 16, 2, 2, false},
                      AvgPoolCase{"bf16_odd_channels_in_graph", bf16, 9, 9, 5, 3, 2, true},
                      AvgPoolCase{"f32_vector_even", f32, 8, 6, 8, 2, 2, false},
                      AvgPoolCase{"f32_stride_past_window", f32, 6, 7, 3, 1, 2, false}),
    [](const ::testing::TestParamInfo<AvgPoolCase>& info) { return std::string(info.param.name); });

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

TEST(RtDetrKernelParams, AvgPool) {
  // Ceil mode: a last window counts when it starts inside the input.
  EXPECT_EQ(avg_pool_out_size(8, 2, 2), 4);
  EXPECT_EQ(avg_pool_out_size(7, 2, 2), 4);
  EXPECT_EQ(avg_pool_out_size(9, 3, 2), 4);
  EXPECT_EQ(avg_pool_out_size(4, 1, 2), 2);
  EXPECT_EQ(avg_pool_out_size(1, 2, 2), 0);
  AvgPoolParams p;
  p.batch = 2;
  p.height = 7;
  p.width = 5;
  p.channels = 4;
  p.kernel = 2;
  p.stride = 2;
  p.input = storage;  // 1120 B of f32
  p.output = storage + 2048;
  std::string why;
  EXPECT_TRUE(can_implement(p, &why)) << why;
  AvgPoolParams bad = p;
  bad.stride = 0;
  expect_refused(bad, "bad window", avg_pool);
  bad = p;
  bad.kernel = 6;
  expect_refused(bad, "does not fit", avg_pool);
  bad = p;
  bad.dtype = DType::i32;
  expect_refused(bad, "not a float data type", avg_pool);
  bad = p;
  bad.output = storage + 1024;
  expect_refused(bad, "overlaps", avg_pool);
}

TEST(RtDetrKernelParams, UpsampleAndConcat) {
  UpsampleNearestParams u;
  u.batch = 1;
  u.height = 3;
  u.width = 5;
  u.channels = 6;
  u.factor = 2;
  u.input = storage;  // 360 B of f32
  u.output = storage + 512;
  std::string why;
  EXPECT_TRUE(can_implement(u, &why)) << why;
  UpsampleNearestParams bad_u = u;
  bad_u.factor = 65;
  expect_refused(bad_u, "factor", upsample_nearest);
  bad_u = u;
  bad_u.output = storage + 256;
  expect_refused(bad_u, "overlaps", upsample_nearest);
  bad_u = u;
  bad_u.width = int64_t(1) << 40;
  expect_refused(bad_u, "too large", upsample_nearest);

  ConcatParams c;
  c.outer = 24;
  c.a_inner = 4;
  c.b_inner = 7;
  c.a = storage;
  c.b = storage + 512;
  c.output = storage + 2048;
  EXPECT_TRUE(can_implement(c, &why)) << why;
  ConcatParams bad_c = c;
  bad_c.b = nullptr;
  expect_refused(bad_c, "null", concat);
  bad_c = c;
  bad_c.output = storage + 1024;  // over b
  expect_refused(bad_c, "overlaps", concat);
  bad_c = c;
  bad_c.outer = int64_t(1) << 40;
  expect_refused(bad_c, "too large", concat);
}

}  // namespace
}  // namespace visionrt::kernels
