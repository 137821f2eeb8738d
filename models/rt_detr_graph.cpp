// RT-DETR's graph: backbone, hybrid encoder, query selection, decoder.
#include <algorithm>

#include "core/error.hpp"
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

Attrs concat_attrs(int axis) {
  Attrs at;
  at.axis = axis;
  return at;
}

}  // namespace

int RtDetrModel::csp(graph::Graph& g, int x, const CspBlock& b) const {
  const Activation act = cfg_.activation;
  int h1 = add_folded_conv(g, x, b.conv1, act);
  for (const FoldedConv& r : b.bottlenecks) h1 = add_folded_conv(g, h1, r, act);
  const int h2 = add_folded_conv(g, x, b.conv2, act);
  const int sum = g.add(Op::add, {h1, h2});
  return b.has_conv3 ? add_folded_conv(g, sum, b.conv3, act) : sum;
}

// One AIFI layer on tokens x [N, S, E], positions added to queries and keys.
int RtDetrModel::encoder_layer(graph::Graph& g, int x, int pos, const EncoderLayer& L) const {
  auto W = [&](int id) { return g.add_weight(id); };
  Attrs ln;
  ln.eps = static_cast<float>(cfg_.layer_norm_eps);
  const int E = cfg_.encoder_hidden_dim;
  auto attention = [&](int in) {
    const int qk_in = pos >= 0 ? g.add(Op::add, {in, pos}) : in;
    const int qk = g.add(Op::linear, {qk_in, W(L.attn.qk_w), W(L.attn.qk_b)});
    const int v = g.add(Op::linear, {in, W(L.attn.v_w), W(L.attn.v_b)});
    Attrs at;
    at.heads = cfg_.encoder_heads;
    at.dim = E;
    at.k_offset = E;
    const int o = g.add(Op::attention, {qk, qk, v}, at);
    return g.add(Op::linear, {o, W(L.attn.o_w), W(L.attn.o_b)});
  };
  auto ffn = [&](int in) {
    const int t = g.add(Op::linear, {in, W(L.fc1.w), W(L.fc1.b)});
    return g.add(Op::linear, {g.add(Op::activation, {t}, act_attrs(cfg_.encoder_activation)), W(L.fc2.w), W(L.fc2.b)});
  };
  if (cfg_.normalize_before) {
    x = g.add(Op::add, {attention(g.add(Op::layer_norm, {x, W(L.ln1.g), W(L.ln1.b)}, ln)), x});
    return g.add(Op::add, {ffn(g.add(Op::layer_norm, {x, W(L.ln2.g), W(L.ln2.b)}, ln)), x});
  }
  x = g.add(Op::layer_norm, {g.add(Op::add, {attention(x), x}), W(L.ln1.g), W(L.ln1.b)}, ln);
  return g.add(Op::layer_norm, {g.add(Op::add, {ffn(x), x}), W(L.ln2.g), W(L.ln2.b)}, ln);
}

graph::Graph RtDetrModel::build(int batch, int height, int width) const {
  const RtDetrConfig& c = cfg_;
  if (batch <= 0 || height <= 0 || width <= 0)
    fail(StatusCode::invalid_argument, "batch ", batch, "x", height, "x", width, " must be positive");
  const int deepest = backbone_strides_.back();
  if (height < deepest || width < deepest)
    fail(StatusCode::shape_mismatch, "input ", height, "x", width, " is smaller than the backbone's ", deepest, "x",
         deepest, " minimum");
  graph::Graph g(table_);
  auto W = [&](int id) { return g.add_weight(id); };
  const int pixels = g.add_input("pixel_values", {batch, 3, height, width});

  // The encoder's levels, shallowest first, [N, h, w, E] each.
  std::vector<int> feats = uses_hgnet_ ? hgnet_.build(g, pixels) : resnet_.build(g, pixels);
  for (size_t l = 0; l < feats.size(); ++l) feats[l] = add_folded_conv(g, feats[l], encoder_proj_[l], Activation::none);
  for (size_t l = 1; l < feats.size(); ++l) {
    const Shape &a = g.value(feats[l - 1]).shape, &b = g.value(feats[l]).shape;
    if (a[1] != 2 * b[1] || a[2] != 2 * b[2])
      fail(StatusCode::shape_mismatch, "input ", height, "x", width, " gives maps of ", a[1], "x", a[2], " and ", b[1],
           "x", b[2], ", which the encoder's top-down fusion cannot join (each must be twice the next): use a "
           "multiple of ", deepest);
  }
  Attrs ln;
  ln.eps = static_cast<float>(c.layer_norm_eps);
  // AIFI: a transformer layer over the chosen levels' cells.
  for (size_t i = 0; i < aifi_.size(); ++i) {
    const int level = c.encode_proj_layers[i];
    const Shape s = g.value(feats[level]).shape;
    int x = g.add(Op::flatten_spatial, {feats[level]});
    Attrs grid;
    grid.out_h = static_cast<int>(s[1]);
    grid.out_w = static_cast<int>(s[2]);
    grid.temperature = static_cast<float>(c.temperature);
    const int pos = c.aifi_positions ? g.add(Op::grid_sincos_position, {x}, grid) : -1;
    for (const EncoderLayer& L : aifi_[i]) x = encoder_layer(g, x, pos, L);
    feats[level] = g.add(Op::unflatten_spatial, {x}, grid);
  }
  // CCFM, top-down: each deeper map, after its lateral conv, upsampled and
  // joined with the next shallower one.
  const size_t n = feats.size();
  std::vector<int> fpn = {feats.back()};
  Attrs up;
  up.stride = 2;
  for (size_t i = 0; i + 1 < n; ++i) {
    // D-FINE's lateral convolutions have no activation.
    fpn.back() = add_folded_conv(g, fpn.back(), lateral_[i], c.dfine() ? Activation::none : c.activation);
    const int joined = g.add(Op::concat, {g.add(Op::upsample_nearest, {fpn.back()}, up), feats[n - 2 - i]}, concat_attrs(3));
    fpn.push_back(c.dfine() ? elan(g, joined, fpn_elan_[i]) : csp(g, joined, fpn_[i]));
  }
  std::reverse(fpn.begin(), fpn.end());
  // Bottom-up: each map, strided down, joined with the next deeper one.
  std::vector<int> pan = {fpn[0]};
  for (size_t i = 0; i + 1 < n; ++i) {
    // D-FINE's SCDown: a 1x1, then a depthwise 3x3 at stride 2, no activation.
    const int down = c.dfine() ? add_folded_conv(g, add_folded_conv(g, pan.back(), scdown_[i][0], Activation::none),
                                                 scdown_[i][1], Activation::none)
                               : add_folded_conv(g, pan.back(), downsample_[i], c.activation);
    const int joined = g.add(Op::concat, {down, fpn[i + 1]}, concat_attrs(3));
    pan.push_back(c.dfine() ? elan(g, joined, pan_elan_[i]) : csp(g, joined, pan_[i]));
  }

  // The decoder's levels (extra ones strided from the deepest map), as one
  // sequence of cells.
  Attrs deform;
  deform.heads = c.decoder_heads;
  deform.dim = c.d_model;
  deform.levels = c.num_feature_levels;
  deform.discrete = c.discrete;
  deform.offset_scale = static_cast<float>(c.offset_scale);
  int memory = -1;
  for (int l = 0; l < c.num_feature_levels; ++l) {
    const int level_map = pan[std::min<size_t>(l, n - 1)];
    // D-FINE's projections are identities when the widths agree.
    const int src = decoder_proj_[l].weight < 0 ? level_map
                                                : add_folded_conv(g, level_map, decoder_proj_[l], Activation::none);
    const Shape s = g.value(src).shape;
    deform.level_h[l] = static_cast<int>(s[1]);
    deform.level_w[l] = static_cast<int>(s[2]);
    deform.level_points[l] = c.level_points[l];
    const int flat = g.add(Op::flatten_spatial, {src});
    memory = memory < 0 ? flat : g.add(Op::concat, {memory, flat}, concat_attrs(1));
  }
  if (!c.anchor_image_size.empty()) {
    // Anchors made once for anchor_image_size: the input must give those maps.
    for (int l = 0; l < c.num_feature_levels; ++l) {
      const int stride = l < static_cast<int>(c.feat_strides.size()) ? c.feat_strides[l] : 0;
      if (!stride || deform.level_h[l] != c.anchor_image_size[0] / stride ||
          deform.level_w[l] != c.anchor_image_size[1] / stride)
        fail(StatusCode::shape_mismatch, "input ", height, "x", width, " gives other feature maps than anchor_image_size ",
             c.anchor_image_size[0], "x", c.anchor_image_size[1], " and feat_strides, for which the anchors are made");
    }
  }

  // Two-stage query selection.
  const int anchors = g.add(Op::anchor_boxes, {memory}, deform);
  const int valid = g.add(Op::mask_invalid_anchors, {memory, anchors});
  int out_mem = g.add(Op::linear, {valid, W(enc_output_.w), W(enc_output_.b)});
  out_mem = g.add(Op::layer_norm, {out_mem, W(enc_norm_.g), W(enc_norm_.b)}, ln);
  const int scores = g.add(Op::linear, {out_mem, W(enc_score_.w), W(enc_score_.b)});
  auto box_head = [&](int x, const Linear* layers, int residual) {
    for (int i = 0; i < 2; ++i)
      x = g.add(Op::activation, {g.add(Op::linear, {x, W(layers[i].w), W(layers[i].b)})}, act_attrs(Activation::relu));
    return g.add(Op::add, {g.add(Op::linear, {x, W(layers[2].w), W(layers[2].b)}), residual});
  };
  const int coords = box_head(out_mem, enc_box_, anchors);
  Attrs top;
  top.count = c.num_queries;
  int ref = g.add(Op::activation, {g.add(Op::gather_top_k, {coords, scores}, top)}, act_attrs(Activation::sigmoid));
  int h;
  if (initial_query_ >= 0) {
    Attrs per_image;
    per_image.count = batch;
    h = g.add(Op::expand, {W(initial_query_)}, per_image);
  } else {
    h = g.add(Op::gather_top_k, {out_mem, scores}, top);
  }

  if (c.dfine()) {
    build_dfine_decoder(g, memory, h, ref, deform);
    return g;
  }

  // The decoder, refining the boxes layer by layer.
  Attrs self_at;
  self_at.heads = c.decoder_heads;
  self_at.dim = c.d_model;
  self_at.k_offset = c.d_model;
  for (const DecoderLayer& L : decoder_) {
    int qpos = g.add(Op::linear, {ref, W(query_pos_[0].w), W(query_pos_[0].b)});
    qpos = g.add(Op::activation, {qpos}, act_attrs(Activation::relu));
    qpos = g.add(Op::linear, {qpos, W(query_pos_[1].w), W(query_pos_[1].b)});
    const int with_pos = g.add(Op::add, {h, qpos});
    const int qk = g.add(Op::linear, {with_pos, W(L.self_attn.qk_w), W(L.self_attn.qk_b)});
    const int v = g.add(Op::linear, {h, W(L.self_attn.v_w), W(L.self_attn.v_b)});
    int t = g.add(Op::linear, {g.add(Op::attention, {qk, qk, v}, self_at), W(L.self_attn.o_w), W(L.self_attn.o_b)});
    h = g.add(Op::layer_norm, {g.add(Op::add, {t, h}), W(L.ln1.g), W(L.ln1.b)}, ln);

    const int q_in = g.add(Op::add, {h, qpos});
    const int offsets = g.add(Op::linear, {q_in, W(L.offsets.w), W(L.offsets.b)});
    const int logits = g.add(Op::linear, {q_in, W(L.attn_weights.w), W(L.attn_weights.b)});
    const int value = g.add(Op::linear, {memory, W(L.value.w), W(L.value.b)});
    const int sampled = g.add(Op::ms_deform_attn, {value, offsets, logits, ref}, deform);
    t = g.add(Op::linear, {sampled, W(L.output.w), W(L.output.b)});
    h = g.add(Op::layer_norm, {g.add(Op::add, {t, h}), W(L.ln2.g), W(L.ln2.b)}, ln);

    t = g.add(Op::activation, {g.add(Op::linear, {h, W(L.fc1.w), W(L.fc1.b)})}, act_attrs(c.decoder_activation));
    t = g.add(Op::linear, {t, W(L.fc2.w), W(L.fc2.b)});
    h = g.add(Op::layer_norm, {g.add(Op::add, {t, h}), W(L.ln3.g), W(L.ln3.b)}, ln);

    ref = g.add(Op::activation, {box_head(h, L.box, g.add(Op::inverse_sigmoid, {ref}))}, act_attrs(Activation::sigmoid));
  }
  const DecoderLayer& last = decoder_.back();
  g.mark_output(g.add(Op::linear, {h, W(last.cls.w), W(last.cls.b)}));
  g.mark_output(ref);
  return g;
}

}  // namespace visionrt::models
