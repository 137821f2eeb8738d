#include "models/vit.hpp"

#include <cstring>

#include "core/error.hpp"
#include "models/checkpoint_reader.hpp"
#include "models/vit_loading.hpp"

namespace visionrt::models {
namespace {

using graph::Attrs;
using graph::Op;

}  // namespace

Activation parse_vit_activation(const std::string& act) {
  if (act == "gelu") return Activation::gelu_erf;
  if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast")
    return Activation::gelu_tanh;
  if (act == "relu") return Activation::relu;
  if (act == "silu" || act == "swish") return Activation::silu;
  fail(StatusCode::unsupported, "config.json: hidden_act '", act,
       "' is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu, swish)");
}

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
  cfg.architecture = io::architecture(c);
  // Every number is range-checked before anything is sized from it.
  cfg.hidden_size = config_int_in(c, "", "hidden_size", 768, 1, kMaxWidth);
  cfg.num_layers = config_int_in(c, "", "num_hidden_layers", 12, 1, kMaxLayers);
  cfg.num_heads = config_int_in(c, "", "num_attention_heads", 12, 1, kMaxHeads);
  cfg.intermediate_size = config_int_in(c, "", "intermediate_size", 3072, 1, kMaxFfn);
  cfg.patch_size = config_int_in(c, "", "patch_size", 16, 1, kMaxImageSide);
  cfg.num_channels = config_int_in(c, "", "num_channels", 3, 1, kMaxChannels);
  cfg.qkv_bias = io::config_bool(c, "qkv_bias", true);
  cfg.layer_norm_eps = static_cast<float>(config_positive_double(c, "layer_norm_eps", 1e-12));
  cfg.hidden_act = parse_vit_activation(config_name(c, "", "hidden_act", "gelu"));
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

bool VitModel::is_vit_family(const nlohmann::json& config, bool base_models) {
  if (is_timm_config(config)) return true;
  const std::string arch = io::architecture(config);
  for (const char* name : kHfVitArchitectures)
    if (arch == name) return true;
  if (base_models)
    for (const char* name : kHfVitBaseModels)
      if (arch == name) return true;
  return false;
}

const char* VitModel::supported_architectures() {
  return "ViTForImageClassification, DeiTForImageClassification, DeiTForImageClassificationWithTeacher, "
         "Dinov2ForImageClassification, Dinov2WithRegistersForImageClassification, and timm's ViT, DeiT and "
         "DINOv2-style checkpoints";
}

VitModel VitModel::load(const io::ModelFolder& folder) {
  if (is_timm_config(folder.config)) return load_timm_vit(folder);
  return load_hf_vit(folder, io::architecture(folder.config));
}

graph::Graph VitModel::build(int batch, int height, int width, bool interpolate, VitOutput output) const {
  const VitConfig& c = cfg_;
  if (batch <= 0) fail(StatusCode::invalid_argument, "batch size must be positive, got ", batch);
  if ((height != c.image_height || width != c.image_width) && !interpolate && !c.resample_always)
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
  int h = g.add(Op::patch_embed, {x, W(w_.patch_w), W(w_.patch_b)}, pa);
  Attrs grid;
  grid.in_h = c.image_height / c.patch_size;
  grid.in_w = c.image_width / c.patch_size;
  grid.out_h = height / c.patch_size;
  grid.out_w = width / c.patch_size;
  grid.antialias = c.antialias;
  int pos = W(w_.pos);
  if (grid.in_h != grid.out_h || grid.in_w != grid.out_w) pos = g.add(Op::resample_position, {pos}, grid);
  h = w_.prefix < 0 ? g.add(Op::embed_tokens, {h, pos}) : g.add(Op::embed_tokens, {h, pos, W(w_.prefix)});
  Attrs per_image;
  per_image.count = batch;
  Attrs tokens_axis;
  tokens_axis.axis = 1;
  if (w_.suffix >= 0) h = g.add(Op::concat, {h, g.add(Op::expand, {W(w_.suffix)}, per_image)}, tokens_axis);

  Attrs ln;
  ln.eps = c.layer_norm_eps;
  Attrs attn;
  attn.heads = c.num_heads;
  attn.dim = c.hidden_size;
  attn.q_offset = 0;
  attn.k_offset = c.hidden_size;
  attn.v_offset = 2 * c.hidden_size;
  Attrs act;
  act.epilogue.act = c.swiglu ? Activation::silu : c.hidden_act;
  Attrs rows_axis;
  rows_axis.axis = 0;
  for (size_t i = 0; i < w_.layers.size(); ++i) {
    const VitWeights::Layer& L = w_.layers[i];
    // Pre-norm block: h + attn(LN(h)), then h + mlp(LN(h)); LayerScale is
    // folded into each branch's last projection.
    int t = g.add(Op::layer_norm, {h, W(L.ln1_g), W(L.ln1_b)}, ln);
    const int qkv = g.add(Op::linear, {t, W(L.qkv_w), W(L.qkv_b)});
    t = g.add(Op::attention, {qkv, qkv, qkv}, attn);
    t = g.add(Op::linear, {t, W(L.out_w), W(L.out_b)});
    h = g.add(Op::add, {t, h});
    const int normed = g.add(Op::layer_norm, {h, W(L.ln2_g), W(L.ln2_b)}, ln);
    t = g.add(Op::linear, {normed, W(L.fc1_w), W(L.fc1_b)});
    t = g.add(Op::activation, {t}, act);
    if (c.swiglu) t = g.add(Op::mul, {t, g.add(Op::linear, {normed, W(L.up_w), W(L.up_b)})});
    t = g.add(Op::linear, {t, W(L.fc2_w), W(L.fc2_b)});
    h = g.add(Op::add, {t, h});
    if (i < w_.mid.size()) {
      // YOLOS: this layer's table, its grid resized as the first one.
      const VitWeights::MidPositions& m = w_.mid[i];
      int mid_grid = W(m.grid);
      if (grid.in_h != grid.out_h || grid.in_w != grid.out_w) mid_grid = g.add(Op::resample_position, {mid_grid}, grid);
      const int rows = g.add(Op::concat, {g.add(Op::concat, {W(m.prefix), mid_grid}, rows_axis), W(m.suffix)}, rows_axis);
      h = g.add(Op::add, {h, g.add(Op::expand, {rows}, per_image)});
    }
  }
  auto norm = [&](int v, int gamma, int beta) {
    return gamma < 0 ? v : g.add(Op::layer_norm, {v, W(gamma), W(beta)}, ln);
  };
  auto token = [&](int v, int index) {
    Attrs sel;
    sel.index = index;
    return g.add(Op::select_token, {v}, sel);
  };
  Attrs patches;
  patches.index = c.prefix_tokens;
  if (output == VitOutput::logits && w_.heads.empty())
    fail(StatusCode::unsupported, c.architecture, " has no classification head (it gives features only)");
  if (output == VitOutput::hidden_states) {
    g.mark_output(norm(h, w_.norm_g, w_.norm_b));
    return g;
  }
  if (output == VitOutput::detection) {
    if (c.detection_tokens == 0) fail(StatusCode::unsupported, c.architecture, " has no detection tokens");
    Attrs det;
    det.index = c.prefix_tokens + grid.out_h * grid.out_w;
    det.count = c.detection_tokens;
    const int x = norm(g.add(Op::slice_tokens, {h}, det), w_.norm_g, w_.norm_b);
    // DETR's heads: three linear layers, ReLU between; the boxes' sigmoid.
    auto mlp = [&](const std::vector<VitWeights::Head>& layers, Activation last) {
      int v = x;
      for (size_t k = 0; k < layers.size(); ++k) {
        Attrs a;
        a.epilogue.act = k + 1 < layers.size() ? Activation::relu : last;
        v = g.add(Op::linear, {v, W(layers[k].w), W(layers[k].b)}, a);
      }
      return v;
    };
    g.mark_output(mlp(w_.class_mlp, Activation::none));
    g.mark_output(mlp(w_.box_mlp, Activation::sigmoid));
    return g;
  }
  int features;
  switch (c.pool) {
    case VitPool::class_token:
      // Only the class (and distillation) tokens reach a head: normalising
      // just those rows gives the same logits as normalising every token.
      if (c.distilled) {
        const int cls = g.add(Op::linear, {norm(token(h, 0), w_.norm_g, w_.norm_b), W(w_.heads[0].w),
                                           W(w_.heads[0].b)});
        const int dist = g.add(Op::linear, {norm(token(h, 1), w_.norm_g, w_.norm_b), W(w_.heads[1].w),
                                            W(w_.heads[1].b)});
        Attrs half;
        half.scale = 0.5f;
        g.mark_output(g.add(Op::affine, {g.add(Op::add, {cls, dist})}, half));
        return g;
      }
      features = norm(token(h, 0), w_.norm_g, w_.norm_b);
      break;
    case VitPool::class_and_mean: {
      h = norm(h, w_.norm_g, w_.norm_b);
      Attrs joined;
      joined.axis = 1;
      features = g.add(Op::concat, {token(h, 0), g.add(Op::mean_tokens, {h}, patches)}, joined);
      break;
    }
    case VitPool::mean:
      features = g.add(Op::mean_tokens, {norm(h, w_.norm_g, w_.norm_b)}, patches);
      break;
  }
  features = norm(features, w_.fc_norm_g, w_.fc_norm_b);
  g.mark_output(g.add(Op::linear, {features, W(w_.heads[0].w), W(w_.heads[0].b)}));
  return g;
}

}  // namespace visionrt::models
