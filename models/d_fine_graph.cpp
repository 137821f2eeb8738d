// D-FINE's graph parts: the encoder's fusion block and the decoder with
// fine-grained distribution refinement.
#include "models/rt_detr.hpp"

namespace visionrt::models {
namespace {

using graph::Attrs;
using graph::Op;

Attrs act_attrs(Activation a) {
  Attrs at;
  at.epilogue.act = a;
  return at;
}

Attrs slice(int offset, int width) {
  Attrs at;
  at.offset = offset;
  at.width = width;
  return at;
}

Attrs clamp(float bound) {
  Attrs at;
  at.lo = -bound;
  at.hi = bound;
  return at;
}

}  // namespace

// RepNCSPELAN4: conv1's output split in halves, the second through two
// CSP branches (each followed by a 3x3), all four joined by conv4. Every
// convolution here is SiLU-activated whatever activation_function says;
// the CSP branches' are activation_function's.
int RtDetrModel::elan(graph::Graph& g, int x, const ElanBlock& b) const {
  Attrs join;
  join.axis = 3;
  const int halves = add_folded_conv(g, x, b.conv1, Activation::silu);
  const int E = cfg_.encoder_hidden_dim;
  const int second = g.add(Op::slice_last, {halves}, slice(E, E));
  const int b1 = add_folded_conv(g, csp(g, second, b.csp1), b.conv2, Activation::silu);
  const int b2 = add_folded_conv(g, csp(g, b1, b.csp2), b.conv3, Activation::silu);
  const int joined = g.add(Op::concat, {g.add(Op::concat, {halves, b1}, join), b2}, join);
  return add_folded_conv(g, joined, b.conv4, Activation::silu);
}

// DFineMLP: ReLU between the layers, none after the last.
int RtDetrModel::mlp(graph::Graph& g, int x, const std::vector<Linear>& layers) const {
  for (size_t i = 0; i < layers.size(); ++i) {
    x = g.add(Op::linear, {x, g.add_weight(layers[i].w), g.add_weight(layers[i].b)});
    if (i + 1 < layers.size()) x = g.add(Op::activation, {x}, act_attrs(Activation::relu));
  }
  return x;
}

void RtDetrModel::build_dfine_decoder(graph::Graph& g, int memory, int h, int ref, const Attrs& deform) const {
  const RtDetrConfig& c = cfg_;
  auto W = [&](int id) { return g.add_weight(id); };
  Attrs ln;
  ln.eps = static_cast<float>(c.layer_norm_eps);
  Attrs self_at;
  self_at.heads = c.decoder_heads;
  self_at.dim = c.d_model;
  self_at.k_offset = c.d_model;
  Attrs join;
  join.axis = 2;
  Attrs fdr;
  fdr.bins = c.max_num_bins;
  fdr.up = up_;
  fdr.reg_scale = reg_scale_;
  const int D = c.d_model;
  // Layer 0's boxes refined by pre_bbox_head: the base every layer's
  // distributions move; each layer's corner logits add to the previous'.
  int initial = -1, corners = -1, previous = -1;
  const std::vector<Linear> query_pos(query_pos_, query_pos_ + 2);
  for (size_t i = 0; i < decoder_.size(); ++i) {
    const DecoderLayer& L = decoder_[i];
    const int qpos = g.add(Op::affine, {mlp(g, ref, query_pos)}, clamp(10.f));
    const int qk = g.add(Op::linear, {g.add(Op::add, {h, qpos}), W(L.self_attn.qk_w), W(L.self_attn.qk_b)});
    const int v = g.add(Op::linear, {h, W(L.self_attn.v_w), W(L.self_attn.v_b)});
    int t = g.add(Op::linear, {g.add(Op::attention, {qk, qk, v}, self_at), W(L.self_attn.o_w), W(L.self_attn.o_b)});
    h = g.add(Op::layer_norm, {g.add(Op::add, {t, h}), W(L.ln1.g), W(L.ln1.b)}, ln);

    // Cross-attention straight on the encoder's cells (no value or output
    // projection), gated into the residual.
    const int q_in = g.add(Op::add, {h, qpos});
    const int offsets = g.add(Op::linear, {q_in, W(L.offsets.w), W(L.offsets.b)});
    const int logits = g.add(Op::linear, {q_in, W(L.attn_weights.w), W(L.attn_weights.b)});
    const int sampled = g.add(Op::ms_deform_attn, {memory, offsets, logits, ref}, deform);
    int gates = g.add(Op::linear, {g.add(Op::concat, {h, sampled}, join), W(L.gate.w), W(L.gate.b)});
    gates = g.add(Op::activation, {gates}, act_attrs(Activation::sigmoid));
    const int mixed = g.add(Op::add, {g.add(Op::mul, {g.add(Op::slice_last, {gates}, slice(0, D)), h}),
                                      g.add(Op::mul, {g.add(Op::slice_last, {gates}, slice(D, D)), sampled})});
    h = g.add(Op::layer_norm, {mixed, W(L.ln2.g), W(L.ln2.b)}, ln);

    t = g.add(Op::activation, {g.add(Op::linear, {h, W(L.fc1.w), W(L.fc1.b)})}, act_attrs(c.decoder_activation));
    t = g.add(Op::linear, {t, W(L.fc2.w), W(L.fc2.b)});
    // transformers clamps to float16's range before the norm.
    h = g.add(Op::layer_norm, {g.add(Op::affine, {g.add(Op::add, {t, h})}, clamp(65504.f)), W(L.ln3.g), W(L.ln3.b)}, ln);

    if (i == 0)
      initial = g.add(Op::activation, {g.add(Op::add, {mlp(g, h, pre_box_), g.add(Op::inverse_sigmoid, {ref})})},
                      act_attrs(Activation::sigmoid));
    const std::vector<Linear> box(L.box, L.box + 3);
    const int step = mlp(g, previous < 0 ? h : g.add(Op::add, {h, previous}), box);
    corners = corners < 0 ? step : g.add(Op::add, {step, corners});
    ref = g.add(Op::fdr_boxes, {corners, initial}, fdr);
    previous = h;
  }
  // The last layer's class scores, each raised by the quality estimate of
  // its box's side distributions.
  const DecoderLayer& last = decoder_.back();
  Attrs stat;
  stat.bins = c.max_num_bins;
  stat.count = c.top_prob_values;
  const int quality = mlp(g, g.add(Op::lqe_stat, {corners}, stat), lqe_);
  g.mark_output(g.add(Op::add, {g.add(Op::linear, {h, W(last.cls.w), W(last.cls.b)}), quality}));
  g.mark_output(ref);
}

}  // namespace visionrt::models
