// The cases of the real-time DETRs' ops (RT-DETR, D-FINE) for
// test_backend_ops.cpp.
#include <cfloat>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>

#include "backend_op_cases.hpp"
#include "reference/op_reference.hpp"

namespace visionrt::testing {

using graph::Attrs;
using graph::Op;

void add_detection_cases(std::vector<Case>& cases) {
  // Multi-scale deformable attention: points inside, on and past the
  // borders (locations in [-0.15, 1.15], and exactly 0 and 1), levels of
  // 1x1 and odd sizes, head widths on and off the vector width, v2's
  // points per level and its discrete sampler.
  struct Deform {
    int heads, head_dim;
    std::vector<int> h, w, points;
    bool discrete;
  };
  for (const Deform& d : {Deform{2, 12, {5, 3, 1}, {7, 9, 1}, {2, 2, 2}, false},
                          Deform{3, 32, {4, 2}, {6, 3}, {4, 4}, false},
                          Deform{2, 8, {6, 1, 3}, {5, 1, 4}, {3, 1, 2}, false},
                          Deform{2, 12, {5, 3, 1}, {7, 9, 1}, {2, 3, 1}, true},
                          Deform{1, 20, {8}, {8}, {6}, true}}) {
    Attrs a;
    a.heads = d.heads;
    a.dim = d.heads * d.head_dim;
    a.levels = int(d.h.size());
    a.discrete = d.discrete;
    int64_t cells = 0, points = 0;
    for (int l = 0; l < a.levels; ++l) {
      a.level_h[l] = d.h[l];
      a.level_w[l] = d.w[l];
      a.level_points[l] = d.points[l];
      cells += d.h[l] * d.w[l];
      points += d.points[l];
    }
    const int64_t B = 2, Q = 5;
    Tensor loc = random_tensor({B, Q, a.heads * points * 2}, -0.15f, 1.15f);
    loc.f32()[0] = 0.f;  // the corners of the first point's map, exactly
    loc.f32()[1] = 1.f;
    loc.f32()[2] = 1.f;
    loc.f32()[3] = 0.f;
    Case c{std::string("ms_deform_attn_") + (d.discrete ? "discrete_" : "") + std::to_string(a.levels) + "levels_h" +
               std::to_string(d.heads) + "x" + std::to_string(d.head_dim),
           Op::ms_deform_attn, a,
           {random_tensor({B, cells, a.dim}), loc, random_tensor({B, Q, a.heads * points}, 0.f, 1.f)},
           {false, false, false}, nullptr, 1};
    c.reference = [d, a, B, Q](const std::vector<Values>& in) {
      reference::DeformShape s;
      s.batch = B;
      s.queries = Q;
      s.heads = a.heads;
      s.head_dim = d.head_dim;
      s.level_h.assign(d.h.begin(), d.h.end());
      s.level_w.assign(d.w.begin(), d.w.end());
      s.level_points.assign(d.points.begin(), d.points.end());
      s.discrete = d.discrete;
      return reference::ms_deform_attn(s, in[0], in[1], in[2]);
    };
    cases.push_back(c);
    // RT-DETR's form: offsets from reference boxes (centres near and past
    // the borders), weight logits.
    Case r = c;
    r.name += "_from_boxes";
    r.attrs.offset_scale = 0.5f;
    r.inputs[1] = random_tensor({B, Q, a.heads * points * 2}, -3.f, 3.f);
    r.inputs[2] = random_tensor({B, Q, a.heads * points}, -3.f, 3.f);
    Tensor boxes = random_tensor({B, Q, 4}, 0.02f, 0.98f);
    boxes.f32()[0] = 0.f;
    r.inputs.push_back(boxes);
    r.is_weight.push_back(false);
    r.roundings = 2;  // the output, and the softmax's weights in a 16-bit dtype
    r.reference = [d, a, B, Q](const std::vector<Values>& in) {
      reference::DeformShape s;
      s.batch = B;
      s.queries = Q;
      s.heads = a.heads;
      s.head_dim = d.head_dim;
      s.level_h.assign(d.h.begin(), d.h.end());
      s.level_w.assign(d.w.begin(), d.w.end());
      s.level_points.assign(d.points.begin(), d.points.end());
      s.discrete = d.discrete;
      return reference::ms_deform_attn_from_boxes(s, 0.5, in[0], in[1], in[2], in[3]);
    };
    cases.push_back(r);
  }
  // Partial last windows (ceil_mode) in odd sizes.
  for (const auto& [h, w, k, st] : {std::tuple{8, 6, 2, 2}, {7, 5, 2, 2}, {2, 3, 2, 2}, {9, 9, 3, 2}}) {
    Attrs a;
    a.kernel = k;
    a.stride = st;
    Case c{"avg_pool_" + std::to_string(h) + "x" + std::to_string(w) + "_k" + std::to_string(k), Op::avg_pool, a,
           {random_tensor({2, h, w, 5})}, {false}, nullptr, 1};
    c.reference = [h = h, w = w, k = k, st = st](const std::vector<Values>& in) {
      return reference::avg_pool(2, h, w, 5, k, st, in[0]);
    };
    cases.push_back(c);
  }
  {
    Attrs a;
    a.stride = 2;
    Case c{"upsample_nearest_x2", Op::upsample_nearest, a, {random_tensor({2, 3, 5, 6})}, {false}, nullptr, 0};
    c.reference = [](const std::vector<Values>& in) { return reference::upsample_nearest(2, 3, 5, 6, 2, in[0]); };
    cases.push_back(c);
  }
  for (int axis : {1, 3}) {
    Attrs a;
    a.axis = axis;
    const Shape y = axis == 1 ? Shape{2, 5, 3, 4} : Shape{2, 4, 3, 7};
    Case c{"concat_axis" + std::to_string(axis), Op::concat, a, {random_tensor({2, 4, 3, 4}), random_tensor(y)},
           {false, false}, nullptr, 0};
    c.reference = [axis, y](const std::vector<Values>& in) {
      const int64_t outer = axis == 1 ? 2 : 2 * 4 * 3;
      return reference::concat(outer, int64_t(in[0].size()) / outer, shape_numel(y) / outer, in[0], in[1]);
    };
    cases.push_back(c);
  }
  {
    Attrs a;
    a.out_h = 5;
    a.out_w = 7;
    a.temperature = 10000.f;
    Case c{"grid_sincos_position_5x7", Op::grid_sincos_position, a, {random_tensor({2, 35, 32})}, {false}, nullptr, 1};
    c.reference = [](const std::vector<Values>&) { return reference::grid_sincos_position(2, 5, 7, 32, 10000.0); };
    cases.push_back(c);
  }
  {
    // Every anchor of these levels is valid: the invalid ones' FLT_MAX has
    // no 16-bit form (the model tests cover them, in fp32).
    Attrs a;
    a.levels = 3;
    const std::vector<int64_t> hs = {12, 6, 3}, ws = {10, 5, 2};
    for (int l = 0; l < 3; ++l) {
      a.level_h[l] = int(hs[l]);
      a.level_w[l] = int(ws[l]);
    }
    Case c{"anchor_boxes_3levels", Op::anchor_boxes, a, {random_tensor({2, 12 * 10 + 6 * 5 + 3 * 2, 8})}, {false},
           nullptr, 1};
    c.reference = [hs, ws](const std::vector<Values>&) { return reference::anchor_boxes(2, hs, ws); };
    cases.push_back(c);
  }
  {
    Tensor anchors = random_tensor({2, 9, 4});
    for (int r : {0, 4, 13}) anchors.f32()[r * 4 + r % 4] = FLT_MAX;
    Case c{"mask_invalid_anchors", Op::mask_invalid_anchors, {}, {random_tensor({2, 9, 6}), anchors}, {false, false},
           nullptr, 0};
    c.reference = [](const std::vector<Values>& in) { return reference::mask_invalid_anchors(18, 6, in[0], in[1]); };
    cases.push_back(c);
  }
  {
    Attrs a;
    a.count = 7;
    Tensor scores = random_tensor({2, 40, 3});
    for (int i : {5, 17, 30}) scores.f32()[i * 3 + 1] = 2.f;  // ties, kept in row order
    Case c{"gather_top_k_7_of_40", Op::gather_top_k, a, {random_tensor({2, 40, 5}), scores}, {false, false}, nullptr, 0};
    c.reference = [](const std::vector<Values>& in) { return reference::gather_top_k(2, 40, 5, 3, 7, in[0], in[1]); };
    cases.push_back(c);
  }
  {
    Tensor x = random_tensor({3, 41}, -0.2f, 1.2f);
    x.f32()[0] = 0.f;
    x.f32()[1] = 1.f;
    x.f32()[2] = 1e-7f;
    Case c{"inverse_sigmoid", Op::inverse_sigmoid, {}, {x}, {false}, nullptr, 1};
    c.reference = [](const std::vector<Values>& in) { return reference::inverse_sigmoid(in[0]); };
    cases.push_back(c);
  }
  // HGNetV2's stem pad (0 before, 1 after), both sides, before only; a 1x1
  // map; channels off and on the vector widths.
  for (auto [N, H, W, C, before, after] :
       {std::tuple{2, 5, 7, 3, 0, 1}, {1, 1, 1, 20, 1, 1}, {2, 4, 3, 16, 2, 0}, {1, 6, 5, 32, 0, 1}}) {
    Attrs a;
    a.pad = before;
    a.pad_end = after;
    Case c{"pad_spatial_" + std::to_string(H) + "x" + std::to_string(W) + "x" + std::to_string(C) + "_" +
               std::to_string(before) + "_" + std::to_string(after),
           Op::pad_spatial, a, {random_tensor({N, H, W, C})}, {false}, nullptr, 0};
    c.reference = [N = N, H = H, W = W, C = C, a](const std::vector<Values>& in) {
      return reference::pad_spatial(N, H, W, C, a.pad, a.pad_end, in[0]);
    };
    cases.push_back(c);
  }
  // Unbounded (HGNetV2's learnable affine), both bounds finite, one; counts
  // off the vector widths; NaN and infinities, which the clamps keep or bound.
  const float inf = std::numeric_limits<float>::infinity();
  for (auto [scale, shift, lo, hi, count, special] :
       {std::tuple{1.7f, -0.3f, -inf, inf, 1001, false}, {0.5f, 0.1f, -0.4f, 0.6f, 64, false},
        {-1.25f, 0.2f, -inf, 0.5f, 37, false}, {0.9f, 0.05f, -0.5f, 0.5f, 48, true},
        {2.f, 0.f, -inf, inf, 33, true}}) {
    Attrs a;
    a.scale = scale;
    a.shift = shift;
    a.lo = lo;
    a.hi = hi;
    Tensor x = random_tensor({count}, -2.f, 2.f);
    if (special) {
      x.f32()[0] = std::numeric_limits<float>::quiet_NaN();
      x.f32()[5] = inf;
      x.f32()[count - 1] = -inf;
    }
    Case c{"affine_" + std::to_string(count) + (std::isinf(lo) ? "" : "_lo") + (std::isinf(hi) ? "" : "_hi") +
               (special ? "_nonfinite" : ""),
           Op::affine, a, {x}, {false}, nullptr, 1};
    c.reference = [a](const std::vector<Values>& in) { return reference::affine(a.scale, a.shift, a.lo, a.hi, in[0]); };
    cases.push_back(c);
  }
  // D-FINE's decoder. Products and slices on and off the GPU's 16-byte
  // vectors (slices of whole vectors in every dtype, then odd offsets).
  for (const Shape& shape : {Shape{4, 33}, Shape{2, 3, 64}}) {
    Case c{"mul_" + std::to_string(shape_numel(shape)), Op::mul, {}, {random_tensor(shape, -3.f, 3.f),
           random_tensor(shape, -3.f, 3.f)}, {false, false}, nullptr};
    c.reference = [](const std::vector<Values>& in) { return reference::mul(in[0], in[1]); };
    cases.push_back(c);
  }
  for (const auto& [shape, offset, width] :
       {std::tuple{Shape{3, 4, 64}, 16, 32}, {Shape{2, 5, 12}, 3, 7}, {Shape{7, 9}, 0, 9}, {Shape{5, 24}, 23, 1}}) {
    Attrs a;
    a.offset = offset;
    a.width = width;
    Case c{"slice_last_" + std::to_string(shape.back()) + "_at" + std::to_string(offset) + "_w" +
               std::to_string(width),
           Op::slice_last, a, {random_tensor(shape)}, {false}, nullptr, 0};
    c.reference = [C = shape.back(), a](const std::vector<Values>& in) {
      return reference::slice_last(C, a.offset, a.width, in[0]);
    };
    cases.push_back(c);
  }
  // Corner logits spread over [-4, 4], so that every softmax is far from
  // uniform and from one-hot; D-FINE's 32 bins, few, and the fewest (2: no
  // steps in the weighting function); query counts off the warp size;
  // negative up and reg_scale, of which the op takes the magnitudes.
  struct Fdr {
    int64_t batch, queries;
    int bins;
    float up, reg_scale;
  };
  for (const Fdr& f : {Fdr{2, 37, 32, 0.5f, 4.f}, Fdr{1, 300, 32, 0.5f, 4.f}, Fdr{3, 5, 4, -0.75f, 2.5f},
                       Fdr{2, 7, 2, 0.5f, -4.f}}) {
    Attrs a;
    a.bins = f.bins;
    a.up = f.up;
    a.reg_scale = f.reg_scale;
    Tensor boxes = random_tensor({f.batch, f.queries, 4}, 0.05f, 0.95f);
    Case c{"fdr_boxes_B" + std::to_string(f.batch) + "_Q" + std::to_string(f.queries) + "_bins" +
               std::to_string(f.bins),
           Op::fdr_boxes, a, {random_tensor({f.batch, f.queries, 4 * (f.bins + 1)}, -4.f, 4.f), boxes},
           {false, false}, nullptr, 1};
    c.reference = [f](const std::vector<Values>& in) {
      return reference::fdr_boxes(f.batch * f.queries, f.bins, f.up, f.reg_scale, in[0], in[1]);
    };
    cases.push_back(c);
  }
  // D-FINE's 4 of 33 probabilities; every probability of a side (count =
  // bins + 1); the top one alone.
  for (const auto& [batch, queries, bins, count] :
       {std::tuple{2, 37, 32, 4}, {1, 300, 32, 4}, {3, 5, 4, 5}, {2, 7, 2, 1}}) {
    Attrs a;
    a.bins = bins;
    a.count = count;
    Case c{"lqe_stat_B" + std::to_string(batch) + "_Q" + std::to_string(queries) + "_bins" + std::to_string(bins) +
               "_top" + std::to_string(count),
           Op::lqe_stat, a, {random_tensor({batch, queries, 4 * (bins + 1)}, -4.f, 4.f)}, {false}, nullptr, 1};
    c.reference = [rows = batch * queries, bins = bins, count = count](const std::vector<Values>& in) {
      return reference::lqe_stat(rows, bins, count, in[0]);
    };
    cases.push_back(c);
  }
}

}  // namespace visionrt::testing
