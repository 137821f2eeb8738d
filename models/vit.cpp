#include "models/vit.hpp"

#include <cstring>

#include "core/error.hpp"
#include "models/checkpoint_reader.hpp"

namespace visionrt::models {
namespace {

using graph::Attrs;
using graph::Op;

Activation parse_activation(const std::string& act) {
  if (act == "gelu") return Activation::gelu_erf;
  if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast")
    return Activation::gelu_tanh;
  if (act == "relu") return Activation::relu;
  fail(StatusCode::unsupported, "config.json: hidden_act '", act,
       "' is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh, relu)");
}

Tensor zeros(int64_t n) {
  Tensor t = Tensor::empty(DType::f32, {n});
  std::memset(t.data(), 0, t.nbytes());
  return t;
}

}  // namespace

const std::vector<ConfigKey>& vit_config_keys() {
  using U = KeyUse;
  static const std::vector<ConfigKey> keys = {
      {"hidden_size", U::honoured}, {"num_hidden_layers", U::honoured}, {"num_attention_heads", U::honoured},
      {"intermediate_size", U::honoured}, {"hidden_act", U::honoured}, {"layer_norm_eps", U::honoured},
      {"image_size", U::honoured}, {"patch_size", U::honoured}, {"num_channels", U::honoured},
      {"qkv_bias", U::honoured}, {"id2label", U::honoured}, {"label2id", U::honoured},
      {"num_labels", U::honoured},
      {"problem_type", U::honoured},  // how the Classifier turns logits into scores
      // Training and initialisation only.
      {"hidden_dropout_prob", U::no_effect}, {"attention_probs_dropout_prob", U::no_effect},
      {"initializer_range", U::no_effect},
      // Heads and outputs ViTForImageClassification does not use: the
      // masked-image-modelling decoder and the pooler (it is built without).
      {"encoder_stride", U::no_effect}, {"pooler_output_size", U::no_effect}, {"pooler_act", U::no_effect},
      // Output format, chunking that gives the same numbers, bookkeeping;
      // the dtype transformers loads in (visionrt chooses its own precision).
      {"output_hidden_states", U::no_effect}, {"output_attentions", U::no_effect}, {"return_dict", U::no_effect},
      {"torchscript", U::no_effect}, {"chunk_size_feed_forward", U::no_effect}, {"dtype", U::no_effect},
      {"torch_dtype", U::no_effect}, {"use_bfloat16", U::no_effect}, {"is_encoder_decoder", U::no_effect},
      {"architectures", U::no_effect}, {"model_type", U::no_effect}, {"transformers_version", U::no_effect},
      {"_name_or_path", U::no_effect}, {"tie_word_embeddings", U::no_effect},
      // Heads removed from attention layers: different layer shapes.
      {"pruned_heads", U::default_only, "{}"},
  };
  return keys;
}

VitConfig VitConfig::from_json(const nlohmann::json& c) {
  refuse_unimplemented_keys(c, "", vit_config_keys());
  VitConfig cfg;
  // Every number is range-checked before anything is sized from it.
  cfg.hidden_size = config_int_in(c, "", "hidden_size", 768, 1, kMaxWidth);
  cfg.num_layers = config_int_in(c, "", "num_hidden_layers", 12, 1, kMaxLayers);
  cfg.num_heads = config_int_in(c, "", "num_attention_heads", 12, 1, kMaxHeads);
  cfg.intermediate_size = config_int_in(c, "", "intermediate_size", 3072, 1, kMaxFfn);
  cfg.patch_size = config_int_in(c, "", "patch_size", 16, 1, kMaxImageSide);
  cfg.num_channels = config_int_in(c, "", "num_channels", 3, 1, kMaxChannels);
  cfg.qkv_bias = io::config_bool(c, "qkv_bias", true);
  cfg.layer_norm_eps = static_cast<float>(config_positive_double(c, "layer_norm_eps", 1e-12));
  cfg.hidden_act = parse_activation(config_name(c, "", "hidden_act", "gelu"));
  const auto size = c.find("image_size");
  if (size != c.end() && size->is_array()) {
    const std::vector<int> hw = config_ints_in(c, "", "image_size", {}, 2, 1, kMaxImageSide);
    cfg.image_height = hw[0];
    cfg.image_width = hw[1];
  } else {
    cfg.image_height = cfg.image_width = config_int_in(c, "", "image_size", 224, 1, kMaxImageSide);
  }
  cfg.labels = checked_labels(c);
  if (cfg.hidden_size % cfg.num_heads != 0)
    fail(StatusCode::corrupt_file, "config.json: hidden_size (", cfg.hidden_size,
         ") is not a multiple of num_attention_heads (", cfg.num_heads, ")");
  if (cfg.image_height < cfg.patch_size || cfg.image_width < cfg.patch_size)
    fail(StatusCode::corrupt_file, "config.json: image_size is smaller than patch_size");
  return cfg;
}

VitModel VitModel::load(const io::ModelFolder& folder) {
  VitModel m;
  m.cfg_ = VitConfig::from_json(folder.config);
  const VitConfig& c = m.cfg_;
  const int64_t D = c.hidden_size, I = c.intermediate_size, P = c.patch_size;
  const int64_t grid = (c.image_height / P) * (c.image_width / P);
  const io::WeightStore& w = folder.weights;
  auto table = std::make_shared<graph::WeightTable>();
  CheckpointReader r(w, *table);
  auto get = [&](const std::string& name, const Shape& shape) { return r.weight(name, shape); };
  const std::string e = "vit.embeddings.";
  m.patch_w_ = get(e + "patch_embeddings.projection.weight", {D, c.num_channels, P, P});
  m.patch_b_ = get(e + "patch_embeddings.projection.bias", {D});
  m.cls_ = get(e + "cls_token", {1, 1, D});
  m.pos_ = get(e + "position_embeddings", {1, grid + 1, D});
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "vit.encoder.layer." + std::to_string(i) + ".";
    Layer L;
    L.ln1_g = get(p + "layernorm_before.weight", {D});
    L.ln1_b = get(p + "layernorm_before.bias", {D});
    std::vector<Tensor> qkv_w, qkv_b;
    for (const char* name : {"query", "key", "value"}) {
      const std::string base = p + "attention.attention." + name;
      qkv_w.push_back(r.tensor(base + ".weight", {D, D}));
      qkv_b.push_back(c.qkv_bias ? r.tensor(base + ".bias", {D}) : zeros(D));
    }
    L.qkv_w = r.stacked(p + "attention.attention.qkv.weight", qkv_w);
    L.qkv_b = r.stacked(p + "attention.attention.qkv.bias", qkv_b);
    L.out_w = get(p + "attention.output.dense.weight", {D, D});
    L.out_b = get(p + "attention.output.dense.bias", {D});
    L.ln2_g = get(p + "layernorm_after.weight", {D});
    L.ln2_b = get(p + "layernorm_after.bias", {D});
    L.fc1_w = get(p + "intermediate.dense.weight", {I, D});
    L.fc1_b = get(p + "intermediate.dense.bias", {I});
    L.fc2_w = get(p + "output.dense.weight", {D, I});
    L.fc2_b = get(p + "output.dense.bias", {D});
    m.layers_.push_back(std::move(L));
  }
  m.ln_g_ = get("vit.layernorm.weight", {D});
  m.ln_b_ = get("vit.layernorm.bias", {D});
  const int64_t labels = static_cast<int64_t>(c.labels.size());
  m.head_w_ = get("classifier.weight", {labels, D});
  m.head_b_ = get("classifier.bias", {labels});
  // transformers' classifier ignores the pooler and mask token too.
  m.num_parameters_ = r.parameters();
  refuse_unused(folder, r.used(), {"vit.pooler.", "vit.embeddings.mask_token"}, [&](const std::string& name) {
    return name.rfind("vit.encoder.layer.", 0) == 0 ? "num_hidden_layers " + std::to_string(c.num_layers)
                                                    : std::string();
  });
  m.table_ = std::move(table);
  return m;
}

graph::Graph VitModel::build(int batch, int height, int width, bool interpolate) const {
  const VitConfig& c = cfg_;
  if (batch <= 0) fail(StatusCode::invalid_argument, "batch size must be positive, got ", batch);
  if ((height != c.image_height || width != c.image_width) && !interpolate)
    fail(StatusCode::shape_mismatch, "input size ", height, "x", width, " differs from the model's ",
         c.image_height, "x", c.image_width, " (enable interpolate_pos_encoding to accept it)");
  if (height < c.patch_size || width < c.patch_size)
    fail(StatusCode::shape_mismatch, "input size ", height, "x", width, " is smaller than one ",
         c.patch_size, "x", c.patch_size, " patch");
  graph::Graph g(table_);
  auto W = [&](int id) { return g.add_weight(id); };
  const int x = g.add_input("pixel_values", {batch, c.num_channels, height, width});

  Attrs pa;
  pa.patch = c.patch_size;
  int h = g.add(Op::patch_embed, {x, W(patch_w_), W(patch_b_)}, pa);
  Attrs grid;
  grid.in_h = c.image_height / c.patch_size;
  grid.in_w = c.image_width / c.patch_size;
  grid.out_h = height / c.patch_size;
  grid.out_w = width / c.patch_size;
  int pos = W(pos_);
  if (grid.in_h != grid.out_h || grid.in_w != grid.out_w) pos = g.add(Op::resample_position, {pos}, grid);
  h = g.add(Op::embed_tokens, {h, W(cls_), pos});

  Attrs ln;
  ln.eps = c.layer_norm_eps;
  Attrs attn;
  attn.heads = c.num_heads;
  attn.dim = c.hidden_size;
  attn.q_offset = 0;
  attn.k_offset = c.hidden_size;
  attn.v_offset = 2 * c.hidden_size;
  Attrs act;
  act.epilogue.act = c.hidden_act;
  for (const Layer& L : layers_) {
    // Pre-norm block: h + attn(LN(h)), then h + mlp(LN(h)).
    int t = g.add(Op::layer_norm, {h, W(L.ln1_g), W(L.ln1_b)}, ln);
    const int qkv = g.add(Op::linear, {t, W(L.qkv_w), W(L.qkv_b)});
    t = g.add(Op::attention, {qkv, qkv, qkv}, attn);
    t = g.add(Op::linear, {t, W(L.out_w), W(L.out_b)});
    h = g.add(Op::add, {t, h});
    t = g.add(Op::layer_norm, {h, W(L.ln2_g), W(L.ln2_b)}, ln);
    t = g.add(Op::linear, {t, W(L.fc1_w), W(L.fc1_b)});
    t = g.add(Op::activation, {t}, act);
    t = g.add(Op::linear, {t, W(L.fc2_w), W(L.fc2_b)});
    h = g.add(Op::add, {t, h});
  }
  // The classifier reads only the class token: normalising just that row
  // gives the same logits as normalising every token first.
  Attrs sel;
  sel.index = 0;
  h = g.add(Op::select_token, {h}, sel);
  h = g.add(Op::layer_norm, {h, W(ln_g_), W(ln_b_)}, ln);
  h = g.add(Op::linear, {h, W(head_w_), W(head_b_)});
  g.mark_output(h);
  return g;
}

}  // namespace visionrt::models
