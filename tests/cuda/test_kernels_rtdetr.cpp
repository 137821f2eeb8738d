// The real-time DETRs' CUDA kernels where the backend-ops test does not
// reach: ceil-mode average pooling on the vector path and inside graph
// capture, anchors with invalid cells (the dtype's largest value, which the
// backend test cannot hold in 16 bits) and the masking they drive, in place;
// the top-k gather over many tiles of rows with ties, +inf and NaN scores;
// the inverse sigmoid in place. Then every launcher's parameter checks,
// which need no device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <string>

#include "core/error.hpp"
#include "kernel_test_util.hpp"
#include "kernels/anchor_boxes.hpp"
#include "kernels/avg_pool.hpp"
#include "kernels/concat.hpp"
#include "kernels/gather_top_k.hpp"
#include "kernels/grid_sincos_position.hpp"
#include "kernels/inverse_sigmoid.hpp"
#include "kernels/mask_invalid_anchors.hpp"
#include "kernels/upsample_nearest.hpp"
#include "reference/op_reference.hpp"

namespace visionrt::kernels {
namespace {

using namespace visionrt::kernels::testing;

// The dtype's largest finite value: an invalid anchor's mark.
double largest_finite(DType t) {
  switch (t) {
    case DType::f16: return 65504.0;
    case DType::bf16: return std::ldexp(255.0, 120);  // 0x1.fep127
    default: break;
  }
  return FLT_MAX;
}

::testing::AssertionResult exactly_equal(const std::string& what, const std::vector<double>& got,
                                         const std::vector<double>& want) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << what << ": size mismatch";
  for (size_t i = 0; i < got.size(); ++i)
    if (!(got[i] == want[i]))
      return ::testing::AssertionFailure() << what << ": element " << i << " is " << got[i] << ", want " << want[i];
  return ::testing::AssertionSuccess();
}

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

// ---- anchors and their mask ----------------------------------------------------------

class AnchorsAndMaskKernel : public ::testing::TestWithParam<DType> {};

// Levels whose border cells are invalid (0.5 / 80 < 0.01), one whose every
// cell is, and one of a single cell.
TEST_P(AnchorsAndMaskKernel, MarkAndMaskInvalidCells) {
  VRT_REQUIRE_CUDA();
  const DType t = GetParam();
  const std::vector<int64_t> hs = {60, 20, 1, 3}, ws = {80, 20, 1, 100};
  int64_t cells = 0;
  for (size_t l = 0; l < hs.size(); ++l) cells += hs[l] * ws[l];
  const int64_t n = 2, dim = 24, rows = n * cells;
  DeviceBuffer anchors = poisoned(t, size_t(rows * 4));
  AnchorBoxesParams ap;
  ap.dtype = t;
  ap.batch = n;
  ap.levels = int(hs.size());
  for (int l = 0; l < ap.levels; ++l) {
    ap.level_h[l] = int(hs[l]);
    ap.level_w[l] = int(ws[l]);
  }
  ap.output = anchors.data();
  anchor_boxes(ap);
  const std::vector<double> got = download(t, anchors, size_t(rows * 4));
  const std::vector<double> ref = reference::anchor_boxes(n, hs, ws);
  std::vector<double> want(ref.size()), tol(ref.size());
  int64_t invalid = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const bool marked = ref[i] == double(FLT_MAX);
    invalid += marked;
    want[i] = marked ? largest_finite(t) : ref[i];
    // logf of an fp32 ratio: a few ulp of fp32 around the result's size.
    tol[i] = marked ? 0.0 : rounding_error(t, ref[i]) + 8 * std::ldexp(1.0, -24) * (1 + std::abs(ref[i]));
  }
  ASSERT_GT(invalid, 0);
  ASSERT_LT(invalid, int64_t(ref.size()));
  EXPECT_TRUE(all_close("anchors", got, want, tol));

  // The mask, in place over x: rows of invalid anchors zeroed, others kept.
  DeviceTensor x = upload(t, random_floats(size_t(rows * dim), -2.f, 2.f, 62));
  MaskInvalidAnchorsParams mp;
  mp.dtype = t;
  mp.rows = rows;
  mp.dim = dim;
  mp.input = x.buffer.data();
  mp.anchors = anchors.data();
  mp.output = x.buffer.data();
  mask_invalid_anchors(mp);
  std::vector<double> masked = x.values;
  for (int64_t r = 0; r < rows; ++r) {
    bool valid = true;
    for (int k = 0; k < 4; ++k) valid = valid && got[size_t(r * 4 + k)] < largest_finite(t);
    if (!valid) std::fill(masked.begin() + r * dim, masked.begin() + (r + 1) * dim, 0.0);
  }
  EXPECT_TRUE(exactly_equal("masked rows", download(t, x.buffer, size_t(rows * dim)), masked));
}

std::string dtype_case_name(const ::testing::TestParamInfo<DType>& info) { return dtype_name(info.param); }

INSTANTIATE_TEST_SUITE_P(Dtypes, AnchorsAndMaskKernel, ::testing::Values(f32, f16, bf16), dtype_case_name);

// ---- top-k gather ---------------------------------------------------------------------

struct TopKCase {
  const char* name;
  DType dtype;
  int64_t rows, width, cols, count;
  bool in_graph;
};

void PrintTo(const TopKCase& c, std::ostream* os) { *os << c.name; }

class GatherTopKKernel : public ::testing::TestWithParam<TopKCase> {};

TEST_P(GatherTopKKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const TopKCase& c = GetParam();
  const int64_t n = 2;
  std::vector<float> s = random_floats(size_t(n * c.rows * c.cols), -1.f, 1.f, 63);
  // Ties kept in row order; +inf and NaN (which ranks as +inf) in image 0;
  // a row of -inf in image 1.
  for (int64_t r : {int64_t(5), int64_t(17), int64_t(300), c.rows - 1}) s[size_t(r * c.cols + r % c.cols)] = 1.5f;
  s[size_t(7 * c.cols)] = NAN;
  s[size_t(40 * c.cols + 1)] = INFINITY;
  for (int64_t k = 0; k < c.cols; ++k) s[size_t((c.rows + 9) * c.cols + k)] = -INFINITY;
  DeviceTensor scores = upload(c.dtype, s);
  DeviceTensor x = upload(c.dtype, random_floats(size_t(n * c.rows * c.width), -1.f, 1.f, 64));
  const size_t count = size_t(n * c.count * c.width);
  DeviceBuffer out = poisoned(c.dtype, count);
  GatherTopKParams p;
  p.dtype = c.dtype;
  p.batch = n;
  p.rows = c.rows;
  p.width = c.width;
  p.score_cols = c.cols;
  p.count = c.count;
  p.input = x.buffer.data();
  p.scores = scores.buffer.data();
  p.output = out.data();
  DeviceBuffer workspace(gather_top_k_workspace_bytes(p));
  p.workspace = workspace.data();
  p.workspace_bytes = workspace.size();
  std::string why;
  ASSERT_TRUE(can_implement(p, &why)) << why;
  launch_maybe_in_graph(p, c.in_graph, out, [](const GatherTopKParams& q) { gather_top_k(q); });
  std::vector<double> ranked = scores.values;
  for (double& v : ranked) v = std::isnan(v) ? INFINITY : v;
  const std::vector<double> want = reference::gather_top_k(n, c.rows, c.width, c.cols, c.count, x.values, ranked);
  EXPECT_TRUE(exactly_equal(c.name, download(c.dtype, out, count), want));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, GatherTopKKernel,
    ::testing::Values(TopKCase{"f32_rtdetr_like", f32, 1000, 33, 7, 300, false},
                      TopKCase{"f16_all_rows", f16, 330, 8, 3, 330, false},
                      TopKCase{"bf16_in_graph", bf16, 513, 4, 80, 100, true}),
    [](const ::testing::TestParamInfo<TopKCase>& info) { return std::string(info.param.name); });

// ---- inverse sigmoid -----------------------------------------------------------------

class InverseSigmoidKernel : public ::testing::TestWithParam<DType> {};

TEST_P(InverseSigmoidKernel, InPlaceMatchesReference) {
  VRT_REQUIRE_CUDA();
  const DType t = GetParam();
  for (size_t count : {size_t(64), size_t(77)}) {  // whole vectors, then single elements
    std::vector<float> v = random_floats(count, -0.2f, 1.2f, 65);
    v[0] = 0.f;
    v[1] = 1.f;
    v[2] = 1e-7f;
    v[3] = -0.f;
    DeviceTensor x = upload(t, v);
    InverseSigmoidParams p;
    p.dtype = t;
    p.count = int64_t(count);
    p.input = x.buffer.data();
    p.output = x.buffer.data();
    inverse_sigmoid(p);
    const std::vector<double> ref = reference::inverse_sigmoid(x.values);
    std::vector<double> tol(count);
    for (size_t i = 0; i < count; ++i)
      tol[i] = rounding_error(t, ref[i]) + 8 * std::ldexp(1.0, -24) * (1 + std::abs(ref[i]));
    EXPECT_TRUE(all_close(std::to_string(count) + " elements", download(t, x.buffer, count), ref, tol));
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, InverseSigmoidKernel, ::testing::Values(f32, f16, bf16), dtype_case_name);

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

TEST(RtDetrKernelParams, PositionsAnchorsAndInverseSigmoid) {
  GridSincosPositionParams g;
  g.batch = 2;
  g.height = 5;
  g.width = 7;
  g.dim = 32;
  g.output = storage;
  std::string why;
  EXPECT_TRUE(can_implement(g, &why)) << why;
  GridSincosPositionParams bad_g = g;
  bad_g.dim = 30;
  expect_refused(bad_g, "multiple of 4", grid_sincos_position);
  bad_g = g;
  bad_g.temperature = 0.f;
  expect_refused(bad_g, "temperature", grid_sincos_position);
  bad_g = g;
  bad_g.output = nullptr;
  expect_refused(bad_g, "null", grid_sincos_position);

  AnchorBoxesParams a;
  a.batch = 2;
  a.levels = 2;
  a.level_h[0] = 4;
  a.level_w[0] = 3;
  a.level_h[1] = 2;
  a.level_w[1] = 2;
  a.output = storage;
  EXPECT_TRUE(can_implement(a, &why)) << why;
  AnchorBoxesParams bad_a = a;
  bad_a.levels = kMaxAnchorLevels + 1;
  expect_refused(bad_a, "levels", anchor_boxes);
  bad_a = a;
  bad_a.level_w[1] = 0;
  expect_refused(bad_a, "level 1", anchor_boxes);

  MaskInvalidAnchorsParams m;
  m.rows = 18;
  m.dim = 6;
  m.input = storage;
  m.anchors = storage + 1024;
  m.output = storage;  // in place
  EXPECT_TRUE(can_implement(m, &why)) << why;
  MaskInvalidAnchorsParams bad_m = m;
  bad_m.output = storage + 4;  // partly over x
  expect_refused(bad_m, "partly overlaps", mask_invalid_anchors);
  bad_m = m;
  bad_m.output = storage + 1024;
  expect_refused(bad_m, "overlaps the anchors", mask_invalid_anchors);
  bad_m = m;
  bad_m.dim = 0;
  expect_refused(bad_m, "bad shape", mask_invalid_anchors);

  InverseSigmoidParams s;
  s.count = 100;
  s.input = storage;
  s.output = storage;
  EXPECT_TRUE(can_implement(s, &why)) << why;
  InverseSigmoidParams bad_s = s;
  bad_s.output = storage + 8;
  expect_refused(bad_s, "partly overlaps", inverse_sigmoid);
  bad_s = s;
  bad_s.count = -1;
  expect_refused(bad_s, "bad count", inverse_sigmoid);
}

TEST(RtDetrKernelParams, GatherTopK) {
  GatherTopKParams p;
  p.batch = 2;
  p.rows = 40;
  p.width = 5;
  p.score_cols = 3;
  p.count = 7;
  p.input = storage;          // 1600 B of f32
  p.scores = storage + 2048;  // 960 B
  p.output = storage + 4096;  // 280 B
  p.workspace = storage + 8192;
  p.workspace_bytes = gather_top_k_workspace_bytes(p);
  EXPECT_EQ(p.workspace_bytes, size_t(2 * 40 * 4));
  std::string why;
  EXPECT_TRUE(can_implement(p, &why)) << why;
  GatherTopKParams bad = p;
  bad.count = 41;
  expect_refused(bad, "count", gather_top_k);
  bad = p;
  bad.workspace_bytes -= 4;
  expect_refused(bad, "workspace", gather_top_k);
  bad = p;
  bad.workspace = storage + 8196;
  expect_refused(bad, "aligned", gather_top_k);
  bad = p;
  bad.output = storage + 2048;
  expect_refused(bad, "overlaps", gather_top_k);
  bad = p;
  bad.workspace = storage;
  expect_refused(bad, "workspace overlaps", gather_top_k);
}

}  // namespace
}  // namespace visionrt::kernels
