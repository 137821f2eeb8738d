// Multi-scale deformable attention's CUDA kernel against the shared double
// reference: both samplers, every float dtype, points inside, on and past
// the borders, levels of 1x1 and odd sizes, head widths below, at and above
// a warp, a launch captured in a graph, and RT-DETR's form (offsets from
// reference boxes, weights as logits).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.hpp"
#include "kernel_test_util.hpp"
#include "kernels/ms_deform_attn.hpp"
#include "reference/op_reference.hpp"

namespace visionrt::kernels {
namespace {

using namespace visionrt::kernels::testing;

struct DeformCase {
  const char* name;
  DType dtype;
  int heads, head_dim;
  std::vector<int> h, w, points;
  bool discrete, in_graph;
  bool from_boxes;  // RT-DETR's form: offsets from reference boxes, weight logits
};

void PrintTo(const DeformCase& c, std::ostream* os) { *os << c.name; }

class MsDeformAttnKernel : public ::testing::TestWithParam<DeformCase> {};

TEST_P(MsDeformAttnKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const DeformCase& c = GetParam();
  const int64_t B = 2, Q = 9;
  int64_t cells = 0, P = 0;
  for (size_t l = 0; l < c.h.size(); ++l) {
    cells += int64_t(c.h[l]) * c.w[l];
    P += c.points[l];
  }
  const int64_t D = int64_t(c.heads) * c.head_dim;
  DeviceTensor value = upload(c.dtype, random_floats(size_t(B * cells * D), -1.f, 1.f, 41));
  std::vector<float> loc = random_floats(size_t(B * Q * c.heads * P * 2), -0.15f, 1.15f, 42);
  loc[0] = 0.f;  // exactly on the borders
  loc[1] = 1.f;
  // From boxes: offsets of a few points' spacing, logits, boxes whose
  // centres reach past the borders.
  if (c.from_boxes) loc = random_floats(loc.size(), -3.f, 3.f, 44);
  DeviceTensor locations = upload(c.dtype, loc);
  DeviceTensor weights = upload(c.dtype, random_floats(size_t(B * Q * c.heads * P), c.from_boxes ? -3.f : 0.f,
                                                       c.from_boxes ? 3.f : 1.f, 43));
  std::vector<float> box = random_floats(size_t(B * Q * 4), 0.02f, 0.98f, 45);
  box[0] = -0.05f;
  box[5] = 1.02f;
  DeviceTensor boxes = upload(c.dtype, box);
  const size_t n = size_t(B * Q * D);
  DeviceBuffer out = poisoned(c.dtype, n);

  MsDeformAttnParams p;
  p.dtype = c.dtype;
  p.batch = B;
  p.queries = Q;
  p.heads = c.heads;
  p.head_dim = c.head_dim;
  p.levels = int(c.h.size());
  for (int l = 0; l < p.levels; ++l) {
    p.level_h[l] = c.h[l];
    p.level_w[l] = c.w[l];
    p.level_points[l] = c.points[l];
  }
  p.discrete = c.discrete;
  p.value = value.buffer.data();
  p.locations = locations.buffer.data();
  p.weights = weights.buffer.data();
  p.boxes = c.from_boxes ? boxes.buffer.data() : nullptr;
  p.offset_scale = 0.5f;
  p.output = out.data();
  std::string why;
  ASSERT_TRUE(can_implement(p, &why)) << why;
  launch_maybe_in_graph(p, c.in_graph, out, [](const MsDeformAttnParams& q) { ms_deform_attn(q); });
  const std::vector<double> got = download(c.dtype, out, n);

  reference::DeformShape s;
  s.batch = B;
  s.queries = Q;
  s.heads = c.heads;
  s.head_dim = c.head_dim;
  s.level_h.assign(c.h.begin(), c.h.end());
  s.level_w.assign(c.w.begin(), c.w.end());
  s.level_points.assign(c.points.begin(), c.points.end());
  s.discrete = c.discrete;
  // The inputs as the kernel read them (rounded to its dtype).
  const std::vector<double> ref =
      c.from_boxes
          ? reference::ms_deform_attn_from_boxes(s, 0.5, value.values, locations.values, weights.values, boxes.values)
          : reference::ms_deform_attn(s, value.values, locations.values, weights.values);
  // Each output sums at most 4P terms w * c * v with |w|, |c|, |v| <= 1, in
  // fp32: 8 ulp of fp32 a term covers its products and the sum. The kernel
  // also works out each tap's fraction from the fp32 product lx * w - 0.5,
  // off by up to 2 ulp of w (<= 12 here), which moves a term by as much.
  // Then one rounding to the dtype. From boxes, each location takes four
  // more fp32 roundings of values below 2 (8 ulp of w more), and each
  // weight a softmax's few ulp (8 more).
  int max_w = 0;
  for (int w : c.w) max_w = std::max(max_w, w);
  const double per_term = c.from_boxes ? 16.0 + 10.0 * max_w : 8.0 + 2.0 * max_w;
  const double terms = 4.0 * double(P) * per_term * std::ldexp(1.0, -24);
  std::vector<double> tol(n);
  for (size_t i = 0; i < n; ++i) tol[i] = rounding_error(c.dtype, ref[i]) + terms;
  EXPECT_TRUE(all_close(c.name, got, ref, tol));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MsDeformAttnKernel,
    ::testing::Values(
        DeformCase{"f32_rtdetr", f32, 8, 32, {10, 5, 3}, {12, 6, 3}, {4, 4, 4}, false, false, false},
        DeformCase{"f16_tiny_levels", f16, 2, 12, {7, 1, 2}, {5, 1, 3}, {3, 3, 3}, false, false, false},
        DeformCase{"bf16_wide_head", bf16, 2, 40, {6, 3}, {4, 5}, {2, 4}, false, true, false},
        DeformCase{"f32_discrete", f32, 4, 16, {9, 4, 1}, {7, 5, 2}, {4, 2, 3}, true, false, false},
        DeformCase{"bf16_discrete_in_graph", bf16, 4, 16, {9, 4, 1}, {7, 5, 2}, {4, 2, 3}, true, true, false},
        DeformCase{"f32_from_boxes", f32, 8, 32, {10, 5, 3}, {12, 6, 3}, {4, 4, 4}, false, false, true},
        DeformCase{"f16_from_boxes_in_graph", f16, 2, 40, {6, 3}, {4, 5}, {2, 4}, false, true, true},
        DeformCase{"bf16_discrete_from_boxes", bf16, 4, 16, {9, 4, 1}, {7, 5, 2}, {4, 2, 3}, true, false, true}),
    [](const ::testing::TestParamInfo<DeformCase>& info) { return std::string(info.param.name); });

// ---- parameter validation (needs no device) -------------------------------------------

TEST(MsDeformAttnKernelParams, RefusesBadParameters) {
  alignas(256) static char storage[4096];
  MsDeformAttnParams p;
  p.batch = 1;
  p.queries = 2;
  p.heads = 2;
  p.head_dim = 4;
  p.levels = 1;
  p.level_h[0] = 2;
  p.level_w[0] = 3;
  p.level_points[0] = 2;
  p.value = storage;
  p.locations = storage + 512;
  p.weights = storage + 1024;
  p.output = storage + 2048;
  std::string why;
  EXPECT_TRUE(can_implement(p, &why)) << why;
  auto refused = [&](const MsDeformAttnParams& bad, const char* reason) {
    std::string w;
    EXPECT_FALSE(can_implement(bad, &w)) << reason;
    EXPECT_NE(w.find(reason), std::string::npos) << w;
  };
  MsDeformAttnParams bad = p;
  bad.levels = kMaxDeformLevels + 1;
  refused(bad, "levels");
  bad = p;
  bad.level_w[0] = 0;
  refused(bad, "level 0");
  bad = p;
  bad.dtype = DType::i32;
  refused(bad, "not a float data type");
  bad = p;
  bad.output = storage;  // over the value map
  refused(bad, "overlaps");
  bad = p;
  bad.boxes = storage + 3072;
  bad.offset_scale = INFINITY;
  refused(bad, "offset_scale");
  bad = p;
  bad.boxes = storage + 2048;  // the output
  refused(bad, "overlaps");
  bad = p;
  bad.weights = nullptr;
  refused(bad, "null");
  try {
    ms_deform_attn(bad);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::unsupported);
  }
}

}  // namespace
}  // namespace visionrt::kernels
