// The op table: each op's shape and dtype rules.
#include "graph/ops.hpp"

#include <cmath>

#include "core/error.hpp"

namespace visionrt::graph {
namespace {

[[noreturn]] void bad_shapes(const char* op, const std::vector<const Shape*>& in, const char* why) {
  std::string s;
  for (size_t i = 0; i < in.size(); ++i) s += (i ? ", " : "") + shape_str(*in[i]);
  fail(StatusCode::shape_mismatch, op, ": ", why, " (inputs ", s, ")");
}

Shape infer_patch_embed(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape &x = *in[0], &w = *in[1], &b = *in[2];
  if (x.size() != 4 || w.size() != 4 || b.size() != 1) bad_shapes("patch_embed", in, "expected [N,C,H,W], [D,C,P,P], [D]");
  if (w[1] != x[1]) bad_shapes("patch_embed", in, "channel count differs from the weight's");
  if (w[2] != a.patch || w[3] != a.patch || b[0] != w[0]) bad_shapes("patch_embed", in, "weight is not [D,C,P,P]");
  if (x[2] < a.patch || x[3] < a.patch) bad_shapes("patch_embed", in, "image smaller than one patch");
  return {x[0], (x[2] / a.patch) * (x[3] / a.patch), w[0]};
}

Shape infer_embed_tokens(const std::vector<const Shape*>& in, const Attrs&) {
  const Shape &t = *in[0], &pos = *in[1];
  const Shape no_prefix{1, 0, t.size() == 3 ? t[2] : 0};
  const Shape& prefix = in.size() > 2 ? *in[2] : no_prefix;
  if (t.size() != 3 || prefix.size() != 3 || prefix[0] != 1 || prefix[2] != t[2] || pos != Shape{1, t[1], t[2]})
    bad_shapes("embed_tokens", in, "expected [N,T,D], [1,T,D], [1,P,D]");
  return {t[0], prefix[1] + t[1], t[2]};
}

Shape infer_layer_norm(const std::vector<const Shape*>& in, const Attrs&) {
  const Shape& x = *in[0];
  if (x.empty() || *in[1] != Shape{x.back()} || *in[2] != Shape{x.back()})
    bad_shapes("layer_norm", in, "gamma and beta must match the last dimension");
  return x;
}

Shape infer_linear(const std::vector<const Shape*>& in, const Attrs&) {
  const Shape &x = *in[0], &w = *in[1], &b = *in[2];
  if (x.empty() || w.size() != 2 || w[1] != x.back() || b != Shape{w[0]})
    bad_shapes("linear", in, "expected [...,K], [N,K], [N]");
  Shape out = x;
  out.back() = w[0];
  if (in.size() > 3 && *in[3] != out) bad_shapes("linear", in, "residual must have the output's shape");
  return out;
}

Shape infer_attention(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape &q = *in[0], &k = *in[1], &v = *in[2];
  if (q.size() != 3 || k.size() != 3 || v.size() != 3) bad_shapes("attention", in, "Q, K, V must be [B,S,*]");
  if (a.heads <= 0 || a.dim % a.heads != 0) bad_shapes("attention", in, "dim must be a multiple of heads");
  if (k[0] != q[0] || v[0] != q[0] || v[1] != k[1]) bad_shapes("attention", in, "batch or key counts differ");
  if (a.q_offset + a.dim > q[2] || a.k_offset + a.dim > k[2] || a.v_offset + a.dim > v[2])
    bad_shapes("attention", in, "Q/K/V columns run past their rows");
  if (in.size() > 3 && *in[3] != Shape{k[0], k[1]}) bad_shapes("attention", in, "key mask must be [B,Sk]");
  return {q[0], q[1], a.dim};
}

Shape infer_same(const std::vector<const Shape*>& in, const Attrs&) {
  for (size_t i = 1; i < in.size(); ++i)
    if (*in[i] != *in[0]) bad_shapes("add", in, "shapes differ");
  return *in[0];
}

Shape infer_select_token(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape& x = *in[0];
  if (x.size() != 3 || a.index < 0 || a.index >= x[1]) bad_shapes("select_token", in, "index outside [N,S,D]");
  return {x[0], x[2]};
}

Shape infer_nchw_to_nhwc(const std::vector<const Shape*>& in, const Attrs&) {
  const Shape& x = *in[0];
  if (x.size() != 4) bad_shapes("nchw_to_nhwc", in, "expected [N,C,H,W]");
  return {x[0], x[2], x[3], x[1]};
}

Shape infer_flatten_spatial(const std::vector<const Shape*>& in, const Attrs&) {
  const Shape& x = *in[0];
  if (x.size() != 4) bad_shapes("flatten_spatial", in, "expected [N,H,W,C]");
  return {x[0], x[1] * x[2], x[3]};
}

Shape infer_conv2d(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape &x = *in[0], &w = *in[1], &b = *in[2];
  if (a.groups < 1) bad_shapes("conv2d", in, "groups must be positive");
  if (x.size() != 4 || w.size() != 4 || w[3] * a.groups != x[3] || w[0] % a.groups || b != Shape{w[0]})
    bad_shapes("conv2d", in, "expected [N,H,W,Ci], [Co,kh,kw,Ci/groups], [Co], Co a multiple of groups");
  if (a.stride <= 0 || a.dilation <= 0 || a.pad < 0) bad_shapes("conv2d", in, "bad stride, dilation or padding");
  const int64_t ho = conv_out_size(x[1], w[1], a), wo = conv_out_size(x[2], w[2], a);
  if (ho <= 0 || wo <= 0) bad_shapes("conv2d", in, "input smaller than the kernel");
  Shape out{x[0], ho, wo, w[0]};
  if (in.size() > 3 && *in[3] != out) bad_shapes("conv2d", in, "residual must have the output's shape");
  return out;
}

Shape infer_max_pool(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape& x = *in[0];
  if (x.size() != 4 || a.kernel <= 0 || a.stride <= 0) bad_shapes("max_pool", in, "expected [N,H,W,C]");
  const int64_t ho = conv_out_size(x[1], a.kernel, a), wo = conv_out_size(x[2], a.kernel, a);
  if (ho <= 0 || wo <= 0) bad_shapes("max_pool", in, "input smaller than the window");
  return {x[0], ho, wo, x[3]};
}

Shape infer_mask_resize(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape& m = *in[0];
  if (m.size() != 3 || a.out_h <= 0 || a.out_w <= 0) bad_shapes("mask_resize", in, "expected [N,H,W]");
  return {m[0], int64_t(a.out_h) * a.out_w};
}

Shape infer_sine_position(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape& m = *in[0];
  if (m.size() != 2 || m[1] != int64_t(a.out_h) * a.out_w || a.dim <= 0 || a.dim % 2)
    bad_shapes("sine_position", in, "expected a [N, out_h*out_w] mask and an even dim");
  return {m[0], m[1], a.dim};
}

Shape infer_expand(const std::vector<const Shape*>& in, const Attrs& a) {
  if (a.count <= 0) bad_shapes("expand", in, "count must be positive");
  Shape out{a.count};
  out.insert(out.end(), in[0]->begin(), in[0]->end());
  return out;
}

Shape infer_resample_position(const std::vector<const Shape*>& in, const Attrs& a) {
  // [1, rows, D], or [rows, D] where rows are joined with others first.
  const Shape& p = *in[0];
  const bool flat = p.size() == 2;
  if ((!flat && (p.size() != 3 || p[0] != 1)) || a.in_h <= 0 || a.in_w <= 0 || a.out_h <= 0 || a.out_w <= 0 ||
      p[p.size() - 2] != int64_t(a.in_h) * a.in_w)
    bad_shapes("resample_position", in, "expected [1, in_h*in_w, D] or [in_h*in_w, D] and positive grids");
  if (flat) return {int64_t(a.out_h) * a.out_w, p[1]};
  return {1, int64_t(a.out_h) * a.out_w, p[2]};
}

Shape infer_ms_deform_attn(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape &v = *in[0], &loc = *in[1], &w = *in[2];
  if (a.heads <= 0 || a.dim <= 0 || a.dim % a.heads != 0)
    bad_shapes("ms_deform_attn", in, "dim must be a positive multiple of heads");
  if (a.levels < 1 || a.levels > kMaxLevels) bad_shapes("ms_deform_attn", in, "1 to 5 levels");
  int64_t cells = 0, points = 0;
  for (int l = 0; l < a.levels; ++l) {
    if (a.level_h[l] <= 0 || a.level_w[l] <= 0 || a.level_points[l] <= 0)
      bad_shapes("ms_deform_attn", in, "every level needs a positive size and point count");
    cells += int64_t(a.level_h[l]) * a.level_w[l];
    points += a.level_points[l];
  }
  if (v.size() != 3 || v[1] != cells || v[2] != a.dim)
    bad_shapes("ms_deform_attn", in, "value must be [B, sum of level cells, dim]");
  if (loc.size() != 3 || loc[0] != v[0] || loc[2] != a.heads * points * 2)
    bad_shapes("ms_deform_attn", in, "locations must be [B, Q, heads * points * 2]");
  if (w != Shape{v[0], loc[1], a.heads * points})
    bad_shapes("ms_deform_attn", in, "weights must be [B, Q, heads * points]");
  if (in.size() > 3 && *in[3] != Shape{v[0], loc[1], 4})
    bad_shapes("ms_deform_attn", in, "reference boxes must be [B, Q, 4]");
  return {v[0], loc[1], a.dim};
}

Shape infer_avg_pool(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape& x = *in[0];
  if (x.size() != 4 || a.kernel <= 0 || a.stride <= 0 || a.pad != 0)
    bad_shapes("avg_pool", in, "expected [N,H,W,C], a window and a stride, no padding");
  if (x[1] < a.kernel || x[2] < a.kernel) bad_shapes("avg_pool", in, "input smaller than the window");
  // ceil_mode: a last partial window counts when it starts inside the input.
  auto out = [&](int64_t n) {
    const int64_t o = (n - a.kernel + a.stride - 1) / a.stride + 1;
    return (o - 1) * a.stride >= n ? o - 1 : o;
  };
  return {x[0], out(x[1]), out(x[2]), x[3]};
}

Shape infer_upsample_nearest(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape& x = *in[0];
  if (x.size() != 4 || a.stride <= 0 || a.stride > 64) bad_shapes("upsample_nearest", in, "expected [N,H,W,C], factor 1 to 64");
  return {x[0], x[1] * a.stride, x[2] * a.stride, x[3]};
}

Shape infer_concat(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape &x = *in[0], &y = *in[1];
  if (x.size() != y.size() || a.axis < 0 || a.axis >= static_cast<int>(x.size()))
    bad_shapes("concat", in, "inputs of one rank, axis inside it");
  Shape out = x;
  for (size_t d = 0; d < x.size(); ++d)
    if (static_cast<int>(d) != a.axis && x[d] != y[d]) bad_shapes("concat", in, "dims other than the axis differ");
  out[a.axis] += y[a.axis];
  return out;
}

Shape infer_grid_sincos_position(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape& x = *in[0];
  if (x.size() != 3 || x[1] != int64_t(a.out_h) * a.out_w || x[2] % 4 || x[2] <= 0)
    bad_shapes("grid_sincos_position", in, "expected [N, out_h*out_w, D], D a multiple of 4");
  return x;
}

Shape infer_anchor_boxes(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape& x = *in[0];
  if (a.levels < 1 || a.levels > kMaxLevels) bad_shapes("anchor_boxes", in, "1 to 5 levels");
  int64_t cells = 0;
  for (int l = 0; l < a.levels; ++l) {
    if (a.level_h[l] <= 0 || a.level_w[l] <= 0) bad_shapes("anchor_boxes", in, "every level needs a positive size");
    cells += int64_t(a.level_h[l]) * a.level_w[l];
  }
  if (x.size() != 3 || x[1] != cells) bad_shapes("anchor_boxes", in, "expected [N, sum of level cells, *]");
  return {x[0], x[1], 4};
}

Shape infer_mask_invalid_anchors(const std::vector<const Shape*>& in, const Attrs&) {
  const Shape &x = *in[0], &anchors = *in[1];
  if (x.size() != 3 || anchors != Shape{x[0], x[1], 4})
    bad_shapes("mask_invalid_anchors", in, "expected [N,S,D] and anchors [N,S,4]");
  return x;
}

Shape infer_gather_top_k(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape &x = *in[0], &scores = *in[1];
  if (x.size() != 3 || scores.size() != 3 || scores[0] != x[0] || scores[1] != x[1] || scores[2] <= 0)
    bad_shapes("gather_top_k", in, "expected [N,S,E] and scores [N,S,C]");
  if (a.count <= 0 || a.count > x[1]) bad_shapes("gather_top_k", in, "count must be from 1 to the row count");
  return {x[0], a.count, x[2]};
}

Shape infer_unflatten_spatial(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape& x = *in[0];
  if (x.size() != 3 || a.out_h <= 0 || a.out_w <= 0 || x[1] != int64_t(a.out_h) * a.out_w)
    bad_shapes("unflatten_spatial", in, "expected [N, out_h*out_w, C]");
  return {x[0], a.out_h, a.out_w, x[2]};
}

Shape infer_pad_spatial(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape& x = *in[0];
  if (x.size() != 4 || a.pad < 0 || a.pad_end < 0 || a.pad > 64 || a.pad_end > 64)
    bad_shapes("pad_spatial", in, "expected [N,H,W,C] and 0 to 64 cells each side");
  return {x[0], x[1] + a.pad + a.pad_end, x[2] + a.pad + a.pad_end, x[3]};
}

Shape infer_affine(const std::vector<const Shape*>& in, const Attrs& a) {
  // Also false for NaN bounds.
  if (!(a.lo <= a.hi)) bad_shapes("affine", in, "lo must not exceed hi");
  return *in[0];
}

Shape infer_slice_last(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape& x = *in[0];
  if (x.empty() || a.offset < 0 || a.width <= 0 || a.offset + int64_t(a.width) > x.back())
    bad_shapes("slice_last", in, "offset and width must lie inside the last dim");
  Shape out = x;
  out.back() = a.width;
  return out;
}

Shape infer_mean_tokens(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape& x = *in[0];
  if (x.size() != 3 || a.index < 0 || a.index >= x[1])
    bad_shapes("mean_tokens", in, "expected [N,S,D] with index below S");
  return {x[0], x[2]};
}

Shape infer_slice_tokens(const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape& x = *in[0];
  if (x.size() != 3 || a.index < 0 || a.count < 1 || a.index + int64_t(a.count) > x[1])
    bad_shapes("slice_tokens", in, "expected [N,S,D] with index + count <= S");
  return {x[0], a.count, x[2]};
}

// D-FINE's corner logits: [B, Q, 4 * (bins + 1)], bins even (the weighting
// function has bins / 2 - 1 steps each side of its centre).
void check_corners(const char* op, const std::vector<const Shape*>& in, const Attrs& a) {
  const Shape& c = *in[0];
  if (a.bins < 2 || a.bins % 2 || a.bins > 1024) bad_shapes(op, in, "bins must be even, 2 to 1024");
  if (c.size() != 3 || c[2] != 4 * (int64_t(a.bins) + 1)) bad_shapes(op, in, "corners must be [B, Q, 4 * (bins + 1)]");
}

Shape infer_fdr_boxes(const std::vector<const Shape*>& in, const Attrs& a) {
  check_corners("fdr_boxes", in, a);
  const Shape &c = *in[0], &boxes = *in[1];
  if (boxes != Shape{c[0], c[1], 4}) bad_shapes("fdr_boxes", in, "boxes must be [B, Q, 4]");
  if (!(a.reg_scale != 0.f) || !std::isfinite(a.reg_scale) || !std::isfinite(a.up))
    bad_shapes("fdr_boxes", in, "reg_scale must be finite and non-zero, up finite");
  return boxes;
}

Shape infer_lqe_stat(const std::vector<const Shape*>& in, const Attrs& a) {
  check_corners("lqe_stat", in, a);
  const Shape& c = *in[0];
  if (a.count < 1 || a.count > a.bins + 1) bad_shapes("lqe_stat", in, "count must be from 1 to bins + 1");
  return {c[0], c[1], 4 * (int64_t(a.count) + 1)};
}

Shape infer_one(const std::vector<const Shape*>& in, const Attrs&) { return *in[0]; }

// Flops rules: 2 per multiply-add, over each output element's reduction.
double flops_linear(const std::vector<const Shape*>& in, const Shape& out, const Attrs&) {
  return 2.0 * double(shape_numel(out)) * double((*in[1])[1]);
}

// conv2d's weight [Co, kh, kw, Ci] and patch_embed's [D, C, P, P] alike:
// the product of the last three dims per output element.
double flops_window(const std::vector<const Shape*>& in, const Shape& out, const Attrs&) {
  const Shape& w = *in[1];
  return 2.0 * double(shape_numel(out)) * double(w[1] * w[2] * w[3]);
}

// Per query and output column: Sk multiply-adds for the scores (one column
// per head's width) and Sk for the weighted sum.
double flops_attention(const std::vector<const Shape*>& in, const Shape& out, const Attrs&) {
  return 2.0 * 2.0 * double(shape_numel(out)) * double((*in[1])[1]);
}

// Per output column and sampled point: four bilinear taps and the point's
// weight, a multiply-add each.
double flops_ms_deform_attn(const std::vector<const Shape*>& in, const Shape& out, const Attrs& a) {
  const double points_per_head = double((*in[2])[2]) / a.heads;
  return 2.0 * 5.0 * double(shape_numel(out)) * points_per_head;
}

constexpr unsigned kMask0 = 1u, kMask3 = 1u << 3;
using OD = OutDType;

const OpDef kOps[] = {
    {"patch_embed", 3, 3, infer_patch_embed, 0, OD::like_input, true, flops_window, false},
    {"embed_tokens", 2, 3, infer_embed_tokens, 0, OD::like_input, true, nullptr, false},
    {"layer_norm", 3, 3, infer_layer_norm, 0, OD::like_input, true, nullptr, false},
    {"linear", 3, 4, infer_linear, 0, OD::like_input, true, flops_linear, true},
    {"attention", 3, 4, infer_attention, kMask3, OD::like_input, true, flops_attention, false},
    {"activation", 1, 1, infer_same, 0, OD::like_input, true, nullptr, false},
    {"add", 2, 2, infer_same, 0, OD::like_input, true, nullptr, false},
    {"select_token", 1, 1, infer_select_token, 0, OD::like_input, true, nullptr, false},
    {"nchw_to_nhwc", 1, 1, infer_nchw_to_nhwc, 0, OD::like_input, true, nullptr, false},
    {"flatten_spatial", 1, 1, infer_flatten_spatial, 0, OD::like_input, true, nullptr, false},
    {"conv2d", 3, 4, infer_conv2d, 0, OD::like_input, true, flops_window, true},
    {"max_pool", 1, 1, infer_max_pool, 0, OD::like_input, true, nullptr, false},
    {"mask_resize", 1, 1, infer_mask_resize, kMask0, OD::f32, true, nullptr, false},
    {"sine_position", 1, 1, infer_sine_position, kMask0, OD::compute, true, nullptr, false},
    {"cast", 1, 1, infer_one, 0, OD::from_attrs, false, nullptr, false},
    {"expand", 1, 1, infer_expand, 0, OD::like_input, true, nullptr, false},
    {"zeros_like", 1, 1, infer_one, 0, OD::like_input, true, nullptr, false},
    {"resample_position", 1, 1, infer_resample_position, 0, OD::like_input, true, nullptr, false},
    {"ms_deform_attn", 3, 4, infer_ms_deform_attn, 0, OD::like_input, true, flops_ms_deform_attn, false},
    {"avg_pool", 1, 1, infer_avg_pool, 0, OD::like_input, true, nullptr, false},
    {"upsample_nearest", 1, 1, infer_upsample_nearest, 0, OD::like_input, true, nullptr, false},
    {"concat", 2, 2, infer_concat, 0, OD::like_input, true, nullptr, false},
    {"grid_sincos_position", 1, 1, infer_grid_sincos_position, 0, OD::like_input, true, nullptr, false},
    {"anchor_boxes", 1, 1, infer_anchor_boxes, 0, OD::like_input, true, nullptr, false},
    {"mask_invalid_anchors", 2, 2, infer_mask_invalid_anchors, 0, OD::like_input, true, nullptr, false},
    {"gather_top_k", 2, 2, infer_gather_top_k, 0, OD::like_input, true, nullptr, false},
    {"inverse_sigmoid", 1, 1, infer_one, 0, OD::like_input, true, nullptr, false},
    {"unflatten_spatial", 1, 1, infer_unflatten_spatial, 0, OD::like_input, true, nullptr, false},
    {"pad_spatial", 1, 1, infer_pad_spatial, 0, OD::like_input, true, nullptr, false},
    {"affine", 1, 1, infer_affine, 0, OD::like_input, true, nullptr, false},
    {"mul", 2, 2, infer_same, 0, OD::like_input, true, nullptr, false},
    {"slice_last", 1, 1, infer_slice_last, 0, OD::like_input, true, nullptr, false},
    {"mean_tokens", 1, 1, infer_mean_tokens, 0, OD::like_input, true, nullptr, false},
    {"slice_tokens", 1, 1, infer_slice_tokens, 0, OD::like_input, true, nullptr, false},
    {"fdr_boxes", 2, 2, infer_fdr_boxes, 0, OD::like_input, true, nullptr, false},
    {"lqe_stat", 1, 1, infer_lqe_stat, 0, OD::like_input, true, nullptr, false},
};
static_assert(sizeof(kOps) / sizeof(kOps[0]) == static_cast<size_t>(Op::count_), "one entry per op");

}  // namespace

const OpDef& op_def(Op op) { return kOps[static_cast<int>(op)]; }

DType infer_dtype(Op op, const std::vector<DType>& in, const Attrs& attrs) {
  const OpDef& def = op_def(op);
  // The compute dtype is that of the first input not held to F32.
  DType compute = DType::f32;
  for (size_t i = 0; i < in.size(); ++i)
    if (!((def.f32_inputs >> i) & 1u)) {
      compute = in[i];
      break;
    }
  if (def.same_dtype_inputs)
    for (size_t i = 0; i < in.size(); ++i) {
      const DType want = input_dtype(def, static_cast<int>(i), compute);
      if (in[i] != want)
        fail(StatusCode::shape_mismatch, def.name, ": input ", i, " is ", dtype_name(in[i]),
             ", expected ", dtype_name(want));
    }
  switch (def.out_dtype) {
    case OutDType::like_input: return compute;
    case OutDType::from_attrs:
    case OutDType::compute: return attrs.dtype;
    case OutDType::f32: return DType::f32;
  }
  return compute;
}

}  // namespace visionrt::graph
