// D-FINE's decoder's CUDA kernels where the backend-ops test does not
// reach: the product in place, the distribution refinement over many CTAs
// and inside graph capture, the quality statistics with sides whose
// softmax is NaN (a NaN or +inf logit, or all -inf) beside finite ones.
// Then every launcher's parameter checks, which need no device.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.hpp"
#include "kernel_test_util.hpp"
#include "kernels/fdr_boxes.hpp"
#include "kernels/lqe_stat.hpp"
#include "kernels/mul.hpp"
#include "kernels/slice_last.hpp"
#include "reference/op_reference.hpp"

namespace visionrt::kernels {
namespace {

using namespace visionrt::kernels::testing;

std::string dtype_case_name(const ::testing::TestParamInfo<DType>& info) { return dtype_name(info.param); }

// ---- the product, in place -------------------------------------------------------------

class MulKernel : public ::testing::TestWithParam<DType> {};

TEST_P(MulKernel, InPlaceMatchesReference) {
  VRT_REQUIRE_CUDA();
  const DType t = GetParam();
  for (size_t count : {size_t(64), size_t(77)}) {  // whole vectors, then single elements
    DeviceTensor a = upload(t, random_floats(count, -3.f, 3.f, 71));
    DeviceTensor b = upload(t, random_floats(count, -3.f, 3.f, 72));
    MulParams p;
    p.dtype = t;
    p.count = int64_t(count);
    p.a = a.buffer.data();
    p.b = b.buffer.data();
    p.output = b.buffer.data();
    mul(p);
    const std::vector<double> ref = reference::mul(a.values, b.values);
    std::vector<double> tol(count);
    for (size_t i = 0; i < count; ++i) tol[i] = rounding_error(t, ref[i]);
    EXPECT_TRUE(all_close(std::to_string(count) + " elements", download(t, b.buffer, count), ref, tol));
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, MulKernel, ::testing::Values(f32, f16, bf16), dtype_case_name);

// ---- the refinement --------------------------------------------------------------------

struct FdrCase {
  const char* name;
  DType dtype;
  int64_t rows;
  int bins;
  float up, reg_scale;
  bool in_graph;
};

void PrintTo(const FdrCase& c, std::ostream* os) { *os << c.name; }

class FdrBoxesKernel : public ::testing::TestWithParam<FdrCase> {};

TEST_P(FdrBoxesKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const FdrCase& c = GetParam();
  const int64_t n = c.bins + 1;
  DeviceTensor corners = upload(c.dtype, random_floats(size_t(c.rows * 4 * n), -4.f, 4.f, 81));
  DeviceTensor boxes = upload(c.dtype, random_floats(size_t(c.rows * 4), 0.05f, 0.95f, 82));
  const size_t count = size_t(c.rows * 4);
  DeviceBuffer out = poisoned(c.dtype, count);
  FdrBoxesParams p;
  p.dtype = c.dtype;
  p.rows = c.rows;
  p.bins = c.bins;
  p.up = c.up;
  p.reg_scale = c.reg_scale;
  p.corners = corners.buffer.data();
  p.boxes = boxes.buffer.data();
  p.output = out.data();
  std::string why;
  ASSERT_TRUE(can_implement(p, &why)) << why;
  launch_maybe_in_graph(p, c.in_graph, out, [](const FdrBoxesParams& q) { fdr_boxes(q); });
  const std::vector<double> ref =
      reference::fdr_boxes(c.rows, c.bins, c.up, c.reg_scale, corners.values, boxes.values);
  // The softmax, W and the box in fp32: a few dozen ulp of the box's scale
  // (distances up to 2 |up| |reg_scale| times w / |reg_scale|, all below 4
  // here); then one rounding to the dtype.
  std::vector<double> tol(count);
  for (size_t i = 0; i < count; ++i) tol[i] = rounding_error(c.dtype, ref[i]) + 64 * 4 * std::ldexp(1.0, -24);
  EXPECT_TRUE(all_close(c.name, download(c.dtype, out, count), ref, tol));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, FdrBoxesKernel,
    ::testing::Values(FdrCase{"f32_dfine_many_ctas", f32, 2 * 300 * 7, 32, 0.5f, 4.f, false},
                      FdrCase{"bf16_in_graph", bf16, 37, 32, 0.5f, 4.f, true},
                      FdrCase{"f16_two_bins_negative_scale", f16, 45, 2, -0.5f, -4.f, false},
                      FdrCase{"f32_wide_sides", f32, 9, 1024, 0.25f, 8.f, false}),
    [](const ::testing::TestParamInfo<FdrCase>& info) { return std::string(info.param.name); });

// ---- the quality statistics ----------------------------------------------------------

class LqeStatKernel : public ::testing::TestWithParam<DType> {};

// Sides 1 (a NaN logit), 6 (+inf) and 11 (all -inf) give NaN throughout,
// as torch does; every other side matches the reference.
TEST_P(LqeStatKernel, NanSidesStayApart) {
  VRT_REQUIRE_CUDA();
  const DType t = GetParam();
  const int64_t rows = 70;
  const int bins = 32, k = 4, n = bins + 1;
  std::vector<float> logits = random_floats(size_t(rows * 4 * n), -4.f, 4.f, 91);
  logits[1 * n + 5] = NAN;
  logits[6 * n + 30] = INFINITY;
  for (int i = 0; i < n; ++i) logits[11 * n + i] = -INFINITY;
  DeviceTensor corners = upload(t, logits);
  const size_t count = size_t(rows * 4 * (k + 1));
  DeviceBuffer out = poisoned(t, count);
  LqeStatParams p;
  p.dtype = t;
  p.rows = rows;
  p.bins = bins;
  p.count = k;
  p.corners = corners.buffer.data();
  p.output = out.data();
  lqe_stat(p);
  const std::vector<double> got = download(t, out, count);
  const std::vector<double> ref = reference::lqe_stat(rows, bins, k, corners.values);
  std::vector<double> got_finite, ref_finite, tol;
  for (size_t i = 0; i < count; ++i) {
    const int64_t side = int64_t(i) / (k + 1);
    if (side == 1 || side == 6 || side == 11) {
      EXPECT_TRUE(std::isnan(got[i]) && std::isnan(ref[i])) << "element " << i << " of side " << side;
      continue;
    }
    got_finite.push_back(got[i]);
    ref_finite.push_back(ref[i]);
    tol.push_back(rounding_error(t, ref[i]) + 16 * std::ldexp(1.0, -24));
  }
  EXPECT_TRUE(all_close("finite sides", got_finite, ref_finite, tol));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, LqeStatKernel, ::testing::Values(f32, f16, bf16), dtype_case_name);

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

TEST(DFineKernelParams, MulAndSlice) {
  MulParams m;
  m.count = 100;
  m.a = storage;
  m.b = storage + 512;
  m.output = storage + 512;  // in place over b
  std::string why;
  EXPECT_TRUE(can_implement(m, &why)) << why;
  MulParams bad_m = m;
  bad_m.output = storage + 8;  // partly over a
  expect_refused(bad_m, "partly overlaps", mul);
  bad_m = m;
  bad_m.count = -1;
  expect_refused(bad_m, "bad count", mul);
  bad_m = m;
  bad_m.b = nullptr;
  expect_refused(bad_m, "null", mul);
  bad_m = m;
  bad_m.dtype = DType::i32;
  expect_refused(bad_m, "not a float data type", mul);

  SliceLastParams s;
  s.rows = 10;
  s.cols = 12;
  s.offset = 3;
  s.width = 7;
  s.input = storage;  // 480 B of f32
  s.output = storage + 512;
  EXPECT_TRUE(can_implement(s, &why)) << why;
  SliceLastParams bad_s = s;
  bad_s.offset = 6;
  expect_refused(bad_s, "outside a row", slice_last);
  bad_s = s;
  bad_s.width = 0;
  expect_refused(bad_s, "outside a row", slice_last);
  bad_s = s;
  bad_s.output = storage + 256;
  expect_refused(bad_s, "overlaps", slice_last);
  bad_s = s;
  bad_s.rows = int64_t(1) << 40;
  expect_refused(bad_s, "too large", slice_last);
}

TEST(DFineKernelParams, FdrBoxesAndLqeStat) {
  FdrBoxesParams f;
  f.rows = 6;
  f.bins = 32;
  f.corners = storage;  // 3168 B of f32
  f.boxes = storage + 4096;  // 96 B
  f.output = storage + 8192;
  std::string why;
  EXPECT_TRUE(can_implement(f, &why)) << why;
  FdrBoxesParams bad_f = f;
  bad_f.bins = 31;
  expect_refused(bad_f, "must be even", fdr_boxes);
  bad_f = f;
  bad_f.bins = 0;
  expect_refused(bad_f, "must be even", fdr_boxes);
  bad_f = f;
  bad_f.bins = 1026;
  expect_refused(bad_f, "must be even", fdr_boxes);
  bad_f = f;
  bad_f.reg_scale = 0.f;
  expect_refused(bad_f, "reg_scale", fdr_boxes);
  bad_f = f;
  bad_f.up = NAN;
  expect_refused(bad_f, "up finite", fdr_boxes);
  bad_f = f;
  bad_f.output = storage + 4096;
  expect_refused(bad_f, "overlaps", fdr_boxes);
  bad_f = f;
  bad_f.rows = int64_t(1) << 40;
  expect_refused(bad_f, "too many", fdr_boxes);

  LqeStatParams l;
  l.rows = 6;
  l.bins = 32;
  l.count = 4;
  l.corners = storage;
  l.output = storage + 4096;
  EXPECT_TRUE(can_implement(l, &why)) << why;
  l.count = 33;
  EXPECT_TRUE(can_implement(l, &why)) << why;
  LqeStatParams bad_l = l;
  bad_l.count = 34;
  expect_refused(bad_l, "count", lqe_stat);
  bad_l = l;
  bad_l.count = 0;
  expect_refused(bad_l, "count", lqe_stat);
  bad_l = l;
  bad_l.bins = 3;
  expect_refused(bad_l, "must be even", lqe_stat);
  bad_l = l;
  bad_l.output = storage + 2048;
  expect_refused(bad_l, "overlaps", lqe_stat);
  bad_l = l;
  bad_l.corners = nullptr;
  expect_refused(bad_l, "null", lqe_stat);
}

}  // namespace
}  // namespace visionrt::kernels
