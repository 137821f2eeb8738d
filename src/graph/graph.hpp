// A model as data: values (graph inputs, weights, activations), each with a
// shape and a dtype, and the nodes that compute activations from them, in
// execution order. Builders under models/ make graphs; passes (fuse.hpp,
// precision.hpp) rewrite them; the executor plans and runs them on a backend.
// Weights are ids into the model's WeightTable: a graph never holds a copy.
#pragma once
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/epilogue.hpp"
#include "core/tensor.hpp"

namespace visionrt::graph {

enum class Op : uint8_t {
  patch_embed,    // [N,C,H,W] (x) weight [D,C,P,P], bias [D] -> [N, H/P * W/P, D]
  // tokens [N,T,D], pos [1,T,D], (prefix [1,P,D]) -> [N,P+T,D]: the prefix
  // rows (class, distillation, register tokens, their positions already
  // added) first, then each token plus its position.
  embed_tokens,
  layer_norm,     // x [...,D], gamma [D], beta [D] -> [...,D]
  linear,         // x [...,K], weight [N,K], bias [N], (residual [...,N]) -> [...,N], + epilogue
  attention,      // q_src [B,Sq,*], k_src [B,Sk,*], v_src [B,Sk,*], (key mask [B,Sk] f32) -> [B,Sq,D]
  activation,     // x -> act(x), elementwise
  add,            // a + b, same shapes
  select_token,   // x [N,S,D] -> x[:, index, :] as [N,D]
  nchw_to_nhwc,   // [N,C,H,W] -> [N,H,W,C]
  flatten_spatial,  // [N,H,W,C] -> [N,H*W,C]: a feature map as a token sequence
  conv2d,         // x [N,H,W,Ci], weight [Co,kh,kw,Ci], bias [Co], (residual [N,Ho,Wo,Co]) -> [N,Ho,Wo,Co]
  max_pool,       // x [N,H,W,C] -> [N,Ho,Wo,C], window `kernel`, `stride`, `pad`
  mask_resize,    // mask [N,H,W] f32 -> [N, out_h*out_w] f32, nearest as torch's interpolate
  sine_position,  // mask [N, out_h*out_w] f32 -> [N, out_h*out_w, dim] of `dtype`, DETR's 2-D sine encoding
  cast,           // x -> x as `dtype`
  expand,         // x [...] -> [count, ...]: the same tensor for each image of a batch
  zeros_like,     // x -> zeros of x's shape and dtype
  resample_position,  // pos [(1,) in_h*in_w, D] -> [(1,) out_h*out_w, D]: the grid resized, bicubic (antialias)
  // Multi-scale deformable attention: value [B, S, D] (each level's map
  // row-major, the levels one after another: S = sum of h*w), locations
  // [B, Q, heads*P*2] (x, y in [0, 1] of each head's P points, level by
  // level), weights [B, Q, heads*P] -> [B, Q, D]: per head, the weighted
  // sum of its D/heads value channels sampled at each point. With a fourth
  // input, reference boxes [B, Q, 4] (cx, cy, w, h), RT-DETR's form: input
  // 1 holds offsets, each point at (cx, cy) + offset * (w, h) *
  // offset_scale / (its level's points), and input 2 logits, softmaxed
  // over each head's points.
  ms_deform_attn,
  // x [N,H,W,C] -> [N,Ho,Wo,C], the mean of each `kernel` window at
  // `stride`, no padding, with a last partial window (ceil_mode) averaged
  // over the cells it covers: AvgPool2d(k, s, 0, ceil_mode=True).
  avg_pool,
  upsample_nearest,  // x [N,H,W,C] -> [N, H*stride, W*stride, C], each cell repeated
  concat,         // a, b -> joined along `axis`; every other dim equal
  // x [N, out_h*out_w, dim] -> [N, out_h*out_w, dim]: RT-DETR's fixed 2-D
  // sine-cosine positions of the grid (x's values unread).
  grid_sincos_position,
  // x [N, S, *] -> [N, S, 4]: RT-DETR's anchor of each cell of `levels`
  // grids, as logits; cells too near a border hold the dtype's largest value.
  anchor_boxes,
  mask_invalid_anchors,  // x [N,S,D], anchors [N,S,4] -> x, zero rows where the anchor is invalid
  // x [N,S,E], scores [N,S,C] -> [N, count, E]: the rows of the `count`
  // greatest max-over-C scores, greatest first, ties to the lower row.
  gather_top_k,
  inverse_sigmoid,  // x -> log(x / (1 - x)), x clamped to [0, 1], each side at least 1e-5
  unflatten_spatial,  // [N, out_h*out_w, C] -> [N, out_h, out_w, C]: tokens back as a map
  // x [N,H,W,C] -> [N, H + pad + pad_end, W + pad + pad_end, C], zeros
  // around: torch's F.pad before a convolution or pool that pads unevenly.
  pad_spatial,
  // x -> x * scale + shift, then clamped to [lo, hi] (NaN stays NaN):
  // HGNetV2's learnable affine block and D-FINE's clamps.
  affine,
  mul,            // a * b, same shapes
  slice_last,     // x [..., C] -> x[..., offset : offset + width]
  mean_tokens,    // x [N,S,D] -> [N,D]: the mean of rows index .. S-1 (patch tokens past the prefix)
  slice_tokens,   // x [N,S,D] -> [N,count,D]: rows index .. index+count-1 (YOLOS's detection tokens)
  // D-FINE's fine-grained distribution refinement: corners [B,Q,4*(bins+1)]
  // (logits of each box side's distribution), boxes [B,Q,4] (cx, cy, w, h)
  // -> [B,Q,4]: each side's softmax integrated against the weighting
  // function W(up, reg_scale) gives its distance, and the distances move
  // the box's edges as distance2bbox does.
  fdr_boxes,
  // corners [B,Q,4*(bins+1)] -> [B,Q,4*(count+1)]: per side, the `count`
  // greatest probabilities of its softmax, greatest first, then their
  // mean (D-FINE's localization quality statistics).
  lqe_stat,
  count_,
};

// Feature levels ms_deform_attn samples at most.
constexpr int kMaxLevels = 5;

// Per-node parameters. Plain fields, so nodes copy without allocating.
struct Attrs {
  float eps = 0.f;                          // layer_norm
  int patch = 0;                            // patch_embed: square kernel and stride
  int heads = 0, dim = 0;                   // attention: head count, output width D
  int q_offset = 0, k_offset = 0, v_offset = 0;  // attention: column of Q/K/V inside its source row
  int index = 0;                            // select_token, mean_tokens, slice_tokens: the first row
  int kernel = 0, stride = 1, pad = 0, dilation = 1;  // conv2d (kernel from weight), pools; upsample: stride
  int out_h = 0, out_w = 0;                 // mask_resize, *_position: the grid
  int in_h = 0, in_w = 0;                   // resample_position: the stored grid
  // resample_position: torch's antialiased bicubic (a = -0.5, the filter
  // widened by the scale when shrinking) instead of plain bicubic (a = -0.75).
  bool antialias = false;
  int count = 0;                            // expand, gather_top_k, slice_tokens
  float temperature = 10000.f;              // sine_position, grid_sincos_position
  DType dtype = DType::f32;                 // cast, sine_position: the output's dtype
  // ms_deform_attn (with heads and dim): each level's map and its points
  // per head; discrete samples the nearest cell (RT-DETRv2's "discrete"
  // method) instead of bilinearly with zeros outside (grid_sample's
  // align_corners=False).
  // offset_scale: the reference-box form's offset factor (0.5 in RT-DETR).
  // anchor_boxes reads levels and their sizes too.
  int levels = 0;
  int level_h[kMaxLevels] = {}, level_w[kMaxLevels] = {}, level_points[kMaxLevels] = {};
  bool discrete = false;
  float offset_scale = 0.5f;
  int axis = 0;  // concat
  int groups = 1;    // conv2d: input and output channels in `groups` independent parts
  int pad_end = 0;   // pad_spatial: cells added after (bottom, right); `pad` before
  float scale = 1.f, shift = 0.f;  // affine
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();  // affine
  int offset = 0, width = 0;  // slice_last
  // fdr_boxes, lqe_stat: bins per side minus one (D-FINE's max_num_bins);
  // fdr_boxes: the weighting function's up and reg_scale.
  int bins = 0;
  float up = 0.5f, reg_scale = 4.f;
  // linear, conv2d: what follows the product (a residual, when fused, is
  // the fourth input); activation: epilogue.act alone.
  Epilogue epilogue;
};

enum class ValueKind : uint8_t { input, weight, activation };

struct Value {
  std::string name;
  Shape shape;
  DType dtype = DType::f32;  // weights: the dtype the consumers read, whatever is stored
  ValueKind kind = ValueKind::activation;
  int weight = -1;  // weights: the id in the graph's WeightTable
};

struct Node {
  Op op;
  std::vector<int> inputs;  // value ids; optional trailing inputs may be absent
  int output = -1;
  Attrs attrs;
};

// The weights of a loaded model: as stored (memory-mapped from the file, in
// the checkpoint's dtype), or derived from stored ones (fused QKV, folded
// BatchNorm) by a recipe run when a backend prepares them, so that a copy
// is made only where a backend keeps one. Read-only once the model is
// loaded; every graph built from the model, for any input shape, refers
// to these.
class WeightTable {
 public:
  using Recipe = std::function<Tensor()>;
  int add(std::string name, Tensor stored);
  // A derived weight of this shape and dtype, computed by `make` on demand.
  int add_derived(std::string name, Shape shape, DType dtype, Recipe make);

  // The weight's data: the stored tensor, or a new one from its recipe.
  Tensor materialize(int id) const;
  const std::string& name(int id) const { return entries_.at(id).name; }
  const Shape& shape(int id) const { return entries_.at(id).shape; }
  DType dtype(int id) const { return entries_.at(id).dtype; }
  bool is_derived(int id) const { return static_cast<bool>(entries_.at(id).make); }
  int size() const { return static_cast<int>(entries_.size()); }
  size_t bytes() const;  // stored and derived, at their dtypes

 private:
  struct Entry {
    std::string name;
    Shape shape;
    DType dtype;
    Tensor stored;  // undefined for derived ones
    Recipe make;
  };
  std::vector<Entry> entries_;
};

class Graph {
 public:
  // A graph with a table of its own, for graphs made by hand (tests).
  Graph();
  // A graph over a loaded model's weights.
  explicit Graph(std::shared_ptr<const WeightTable> weights);

  int add_input(std::string name, Shape shape, DType dtype = DType::f32);
  // A weight of the table, read by its consumers as F32 until the precision
  // pass says otherwise.
  int add_weight(int table_id);
  // Adds `data` to the graph's own table; only for graphs made with Graph().
  int add_weight(std::string name, Tensor data);
  // Appends a node; its output shape and dtype come from the op's rules,
  // which throw shape_mismatch naming the op and the inputs when they disagree.
  int add(Op op, std::vector<int> inputs, const Attrs& attrs = {});
  void mark_output(int value) { outputs_.push_back(value); }

  const Value& value(int id) const { return values_.at(id); }
  Value& mutable_value(int id) { return values_.at(id); }
  const std::vector<Value>& values() const { return values_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  std::vector<Node>& mutable_nodes() { return nodes_; }
  const std::vector<int>& inputs() const { return inputs_; }
  const std::vector<int>& outputs() const { return outputs_; }
  std::vector<int>& mutable_outputs() { return outputs_; }
  const std::shared_ptr<const WeightTable>& weights() const { return weights_; }
  // Whether the graph passes have run (runtime/executor.hpp's lower): an
  // executor plans a lowered graph as it is.
  bool lowered() const { return lowered_; }
  void mark_lowered() { lowered_ = true; }

 private:
  std::shared_ptr<WeightTable> own_weights_;
  std::shared_ptr<const WeightTable> weights_;
  std::vector<Value> values_;
  std::vector<Node> nodes_;
  std::vector<int> inputs_, outputs_;
  bool lowered_ = false;
};

}  // namespace visionrt::graph
