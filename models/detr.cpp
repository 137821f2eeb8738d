#include "models/detr.hpp"

#include <cstring>

#include "core/error.hpp"
#include "models/checkpoint_reader.hpp"
#include "models/config_checks.hpp"

namespace visionrt::models {
namespace {

using graph::Attrs;
using graph::Op;

Activation parse_activation(const std::string& act) {
  if (act == "relu") return Activation::relu;
  if (act == "gelu") return Activation::gelu_erf;
  fail(StatusCode::unsupported, "config.json: activation_function '", act,
       "' is not supported (supported: relu, gelu)");
}

}  // namespace

const std::vector<ConfigKey>& detr_config_keys() {
  using U = KeyUse;
  static const std::vector<ConfigKey> keys = {
      {"d_model", U::honoured}, {"encoder_layers", U::honoured}, {"decoder_layers", U::honoured},
      {"encoder_attention_heads", U::honoured}, {"decoder_attention_heads", U::honoured},
      {"encoder_ffn_dim", U::honoured}, {"decoder_ffn_dim", U::honoured}, {"num_queries", U::honoured},
      {"activation_function", U::honoured}, {"position_embedding_type", U::honoured},
      {"id2label", U::honoured}, {"label2id", U::honoured}, {"num_labels", U::honoured},
      // Which outputs the loss reads; the matcher's and loss's weights (the
      // set-prediction loss of `visionrt eval`).
      {"auxiliary_loss", U::honoured}, {"class_cost", U::honoured}, {"bbox_cost", U::honoured},
      {"giou_cost", U::honoured}, {"eos_coefficient", U::honoured}, {"bbox_loss_coefficient", U::honoured},
      {"giou_loss_coefficient", U::honoured},
      // DetrConfig's attribute_map: other names of d_model and
      // encoder_attention_heads, read as them (with_d_model_aliases).
      {"hidden_size", U::honoured}, {"num_attention_heads", U::honoured},
      // The backbone (resnet.cpp): which one, its input planes, a dilated
      // last stage, timm's arguments, and its own config.
      {"backbone_config", U::honoured}, {"use_timm_backbone", U::honoured}, {"backbone", U::honoured},
      {"num_channels", U::honoured}, {"dilation", U::honoured}, {"backbone_kwargs", U::honoured},
      // Training and initialisation only: dropout, layer drop (skipped
      // layers in training), initial weights (the checkpoint's are loaded),
      // the segmentation head's losses.
      {"dropout", U::no_effect}, {"attention_dropout", U::no_effect}, {"activation_dropout", U::no_effect},
      {"encoder_layerdrop", U::no_effect}, {"decoder_layerdrop", U::no_effect}, {"init_std", U::no_effect},
      {"init_xavier_std", U::no_effect}, {"use_pretrained_backbone", U::no_effect},
      {"mask_loss_coefficient", U::no_effect}, {"dice_loss_coefficient", U::no_effect},
      // Output format and bookkeeping.
      {"output_hidden_states", U::no_effect}, {"output_attentions", U::no_effect}, {"return_dict", U::no_effect},
      {"torchscript", U::no_effect}, {"chunk_size_feed_forward", U::no_effect}, {"dtype", U::no_effect},
      {"torch_dtype", U::no_effect}, {"is_encoder_decoder", U::no_effect}, {"problem_type", U::no_effect},
      {"architectures", U::no_effect}, {"model_type", U::no_effect}, {"transformers_version", U::no_effect},
      {"_name_or_path", U::no_effect},
      // Heads removed from attention layers: different layer shapes.
      {"pruned_heads", U::default_only, "{}"},
  };
  return keys;
}

DetrConfig DetrConfig::from_json(const nlohmann::json& config) {
  const nlohmann::json c = with_d_model_aliases(config);
  refuse_unimplemented_keys(c, "", detr_config_keys());
  DetrConfig cfg;
  // Every number is range-checked before anything is sized from it.
  cfg.d_model = config_int_in(c, "", "d_model", 256, 2, kMaxWidth);
  cfg.encoder_layers = config_int_in(c, "", "encoder_layers", 6, 0, kMaxLayers);
  cfg.decoder_layers = config_int_in(c, "", "decoder_layers", 6, 1, kMaxLayers);
  cfg.encoder_heads = config_int_in(c, "", "encoder_attention_heads", 8, 1, kMaxHeads);
  cfg.decoder_heads = config_int_in(c, "", "decoder_attention_heads", 8, 1, kMaxHeads);
  cfg.encoder_ffn = config_int_in(c, "", "encoder_ffn_dim", 2048, 1, kMaxFfn);
  cfg.decoder_ffn = config_int_in(c, "", "decoder_ffn_dim", 2048, 1, kMaxFfn);
  cfg.num_queries = config_int_in(c, "", "num_queries", 100, 1, kMaxQueries);
  cfg.activation = parse_activation(config_name(c, "", "activation_function", "relu"));
  cfg.auxiliary_loss = io::config_bool(c, "auxiliary_loss", false);
  const std::string pos = config_name(c, "", "position_embedding_type", "sine");
  if (pos != "sine")
    fail(StatusCode::unsupported, "config.json: position_embedding_type '", pos, "' is not supported (supported: sine)");
  cfg.labels = checked_labels(c);
  if (cfg.d_model % cfg.encoder_heads || cfg.d_model % cfg.decoder_heads || cfg.d_model % 2)
    fail(StatusCode::corrupt_file, "config.json: d_model (", cfg.d_model,
         ") must be even and a multiple of the attention head counts");
  return cfg;
}

DetrModel DetrModel::load(const io::ModelFolder& folder) {
  DetrModel m;
  m.cfg_ = DetrConfig::from_json(folder.config);
  const DetrConfig& c = m.cfg_;
  const io::WeightStore& w = folder.weights;
  const std::string bb_prefix = w.contains("model.backbone.model.conv1.weight") ||
                                        w.contains("model.backbone.model.embedder.embedder.convolution.weight")
                                    ? "model.backbone.model."
                                    : "model.backbone.conv_encoder.model.";
  auto table = std::make_shared<graph::WeightTable>();
  CheckpointReader n(w, *table);
  m.backbone_ = Resnet::load(folder.config, n, bb_prefix);
  const int64_t D = c.d_model;
  // The input projection is a 1x1 convolution: on NHWC rows, a linear layer.
  m.proj_w_ = n.add("model.input_projection.weight",
                    n.tensor("model.input_projection.weight", {D, m.backbone_.out_channels(), 1, 1})
                        .reshaped({D, m.backbone_.out_channels()}));
  m.proj_b_ = n.weight("model.input_projection.bias", {D});
  m.query_pos_ = n.weight("model.query_position_embeddings.weight", {c.num_queries, D});

  auto attention = [&](const std::string& p, bool joined_qk) {
    Attention a;
    auto proj = [&](const char* name, const char* alt, int& wt, int& bs) {
      wt = n.weight(p + name + ".weight", {D, D}, alt ? p + alt + ".weight" : "");
      bs = n.weight(p + name + ".bias", {D}, alt ? p + alt + ".bias" : "");
    };
    proj("v_proj", nullptr, a.v_w, a.v_b);
    proj("out_proj", "o_proj", a.o_w, a.o_b);
    if (joined_qk) {
      // Joined when a backend prepares them: only its own form is kept.
      auto joined = [&](const char* part) {
        const Shape shape = part[0] == 'w' ? Shape{D, D} : Shape{D};
        return n.stacked(p + "qk_proj." + part,
                         {n.tensor(p + "q_proj." + part, shape), n.tensor(p + "k_proj." + part, shape)});
      };
      a.qk_w = joined("weight");
      a.qk_b = joined("bias");
    } else {
      proj("q_proj", nullptr, a.q_w, a.q_b);
      proj("k_proj", nullptr, a.k_w, a.k_b);
    }
    return a;
  };
  auto ffn = [&](Layer& L, const std::string& p, int64_t F) {
    L.fc1_w = n.weight(p + "fc1.weight", {F, D}, p + "mlp.fc1.weight");
    L.fc1_b = n.weight(p + "fc1.bias", {F}, p + "mlp.fc1.bias");
    L.fc2_w = n.weight(p + "fc2.weight", {D, F}, p + "mlp.fc2.weight");
    L.fc2_b = n.weight(p + "fc2.bias", {D}, p + "mlp.fc2.bias");
  };
  auto norm = [&](const std::string& name, int& g, int& b) {
    g = n.weight(name + ".weight", {D});
    b = n.weight(name + ".bias", {D});
  };
  for (int i = 0; i < c.encoder_layers; ++i) {
    const std::string p = "model.encoder.layers." + std::to_string(i) + ".";
    Layer L;
    L.self_attn = attention(p + "self_attn.", true);
    norm(p + "self_attn_layer_norm", L.ln1_g, L.ln1_b);
    ffn(L, p, c.encoder_ffn);
    norm(p + "final_layer_norm", L.ln3_g, L.ln3_b);
    m.encoder_.push_back(std::move(L));
  }
  for (int i = 0; i < c.decoder_layers; ++i) {
    const std::string p = "model.decoder.layers." + std::to_string(i) + ".";
    Layer L;
    L.self_attn = attention(p + "self_attn.", true);
    norm(p + "self_attn_layer_norm", L.ln1_g, L.ln1_b);
    L.cross_attn = attention(p + "encoder_attn.", false);
    norm(p + "encoder_attn_layer_norm", L.ln2_g, L.ln2_b);
    ffn(L, p, c.decoder_ffn);
    norm(p + "final_layer_norm", L.ln3_g, L.ln3_b);
    m.decoder_.push_back(std::move(L));
  }
  norm("model.decoder.layernorm", m.dec_ln_g_, m.dec_ln_b_);
  const int64_t classes = static_cast<int64_t>(c.labels.size()) + 1;
  m.cls_w_ = n.weight("class_labels_classifier.weight", {classes, D});
  m.cls_b_ = n.weight("class_labels_classifier.bias", {classes});
  for (int i = 0; i < 3; ++i) {
    const std::string p = "bbox_predictor.layers." + std::to_string(i) + ".";
    m.box_w_[i] = n.weight(p + "weight", {i == 2 ? 4 : D, D});
    m.box_b_[i] = n.weight(p + "bias", {i == 2 ? 4 : D});
  }
  m.num_parameters_ = n.parameters();
  refuse_unused(folder, n.used(), {}, [&](const std::string& name) {
    if (name.rfind("model.encoder.layers.", 0) == 0) return "encoder_layers " + std::to_string(c.encoder_layers);
    if (name.rfind("model.decoder.layers.", 0) == 0) return "decoder_layers " + std::to_string(c.decoder_layers);
    if (name.rfind(bb_prefix, 0) == 0) return std::string("the backbone's depths");
    return std::string();
  });
  m.table_ = std::move(table);
  return m;
}

graph::Graph DetrModel::build(int batch, int height, int width) const {
  const DetrConfig& c = cfg_;
  if (batch <= 0 || height <= 0 || width <= 0)
    fail(StatusCode::invalid_argument, "batch ", batch, "x", height, "x", width, " must be positive");
  if (height < 32 || width < 32)
    fail(StatusCode::shape_mismatch, "input ", height, "x", width, " is smaller than the backbone's 32x32 minimum");
  graph::Graph g(table_);
  auto W = [&](int id) { return g.add_weight(id); };
  const int pixels = g.add_input("pixel_values", {batch, 3, height, width});
  const int pixel_mask = g.add_input("pixel_mask", {batch, height, width});

  int feat = backbone_.build(g, pixels);
  const Shape fs = g.value(feat).shape;  // [N, h, w, C]
  Attrs grid;
  grid.out_h = static_cast<int>(fs[1]);
  grid.out_w = static_cast<int>(fs[2]);
  grid.dim = c.d_model;
  const int mask = g.add(Op::mask_resize, {pixel_mask}, grid);
  const int pos = g.add(Op::sine_position, {mask}, grid);
  int h = g.add(Op::linear, {feat, W(proj_w_), W(proj_b_)});
  h = g.add(Op::flatten_spatial, {h});

  Attrs ln;
  ln.eps = 1e-5f;
  Attrs act;
  act.epilogue.act = c.activation;
  auto ffn_block = [&](int x, const Layer& L) {
    int t = g.add(Op::linear, {x, W(L.fc1_w), W(L.fc1_b)});
    t = g.add(Op::activation, {t}, act);
    t = g.add(Op::linear, {t, W(L.fc2_w), W(L.fc2_b)});
    t = g.add(Op::add, {t, x});
    return g.add(Op::layer_norm, {t, W(L.ln3_g), W(L.ln3_b)}, ln);
  };
  // Self-attention with the position added to queries and keys, never values.
  auto self_attention = [&](int x, int x_pos, const Attention& A, int heads, int key_mask) {
    const int qk_in = g.add(Op::add, {x, x_pos});
    const int qk = g.add(Op::linear, {qk_in, W(A.qk_w), W(A.qk_b)});
    const int v = g.add(Op::linear, {x, W(A.v_w), W(A.v_b)});
    Attrs at;
    at.heads = heads;
    at.dim = c.d_model;
    at.k_offset = c.d_model;
    std::vector<int> in = {qk, qk, v};
    if (key_mask >= 0) in.push_back(key_mask);
    const int o = g.add(Op::attention, in, at);
    const int t = g.add(Op::linear, {o, W(A.o_w), W(A.o_b)});
    return g.add(Op::add, {t, x});
  };

  for (const Layer& L : encoder_) {
    const int t = self_attention(h, pos, L.self_attn, c.encoder_heads, mask);
    h = g.add(Op::layer_norm, {t, W(L.ln1_g), W(L.ln1_b)}, ln);
    h = ffn_block(h, L);
  }
  const int memory = h;
  const int memory_pos = g.add(Op::add, {memory, pos});  // the same keys' input for every layer

  Attrs per_image;
  per_image.count = batch;
  const int query_pos = g.add(Op::expand, {W(query_pos_)}, per_image);
  int q = g.add(Op::zeros_like, {query_pos});  // the decoder starts from zeros
  for (const Layer& L : decoder_) {
    int t = self_attention(q, query_pos, L.self_attn, c.decoder_heads, -1);
    q = g.add(Op::layer_norm, {t, W(L.ln1_g), W(L.ln1_b)}, ln);
    const Attention& A = L.cross_attn;
    const int q_in = g.add(Op::add, {q, query_pos});
    const int qq = g.add(Op::linear, {q_in, W(A.q_w), W(A.q_b)});
    const int kk = g.add(Op::linear, {memory_pos, W(A.k_w), W(A.k_b)});
    const int vv = g.add(Op::linear, {memory, W(A.v_w), W(A.v_b)});
    Attrs at;
    at.heads = c.decoder_heads;
    at.dim = c.d_model;
    const int o = g.add(Op::attention, {qq, kk, vv, mask}, at);
    t = g.add(Op::linear, {o, W(A.o_w), W(A.o_b)});
    t = g.add(Op::add, {t, q});
    q = g.add(Op::layer_norm, {t, W(L.ln2_g), W(L.ln2_b)}, ln);
    q = ffn_block(q, L);
    if (c.auxiliary_loss) q = g.add(Op::layer_norm, {q, W(dec_ln_g_), W(dec_ln_b_)}, ln);
  }
  q = g.add(Op::layer_norm, {q, W(dec_ln_g_), W(dec_ln_b_)}, ln);
  const int logits = g.add(Op::linear, {q, W(cls_w_), W(cls_b_)});
  int b = q;
  for (int i = 0; i < 3; ++i) {
    b = g.add(Op::linear, {b, W(box_w_[i]), W(box_b_[i])});
    Attrs a;
    a.epilogue.act = i < 2 ? Activation::relu : Activation::sigmoid;
    b = g.add(Op::activation, {b}, a);
  }
  g.mark_output(logits);
  g.mark_output(b);
  return g;
}

}  // namespace visionrt::models
