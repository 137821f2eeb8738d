// transformers' ViT family checkpoints: ViT, DeiT (one head or two) and
// DINOv2 (with registers, SwiGLU), as save_pretrained writes them. The
// published checkpoints carry transformers 4.x names; 5.x saves some
// under new ones (q_proj, o_proj, gate_proj...), and both are read.
#include <cmath>
#include <string>

#include "core/error.hpp"
#include "models/checkpoint_reader.hpp"
#include "models/vit.hpp"
#include "models/vit_loading.hpp"

namespace visionrt::models {
namespace {

enum class Family { vit, deit, dinov2, yolos };

struct Layout {
  Family family;
  std::string root;  // "vit.", "deit.", "dinov2.", "dinov2_with_registers."; "" in a base model
  bool teacher = false;
  bool registers = false;
  bool head = true;  // false: the base model alone (feature extraction)
};

Layout layout_of(const std::string& arch) {
  if (arch == "ViTForImageClassification") return {Family::vit, "vit."};
  if (arch == "DeiTForImageClassification") return {Family::deit, "deit."};
  if (arch == "DeiTForImageClassificationWithTeacher") return {Family::deit, "deit.", true};
  if (arch == "Dinov2ForImageClassification") return {Family::dinov2, "dinov2."};
  if (arch == "Dinov2WithRegistersForImageClassification")
    return {Family::dinov2, "dinov2_with_registers.", false, true};
  if (arch == "YolosForObjectDetection") return {Family::yolos, "vit."};
  if (arch == "ViTModel") return {Family::vit, "", false, false, false};
  if (arch == "DeiTModel") return {Family::deit, "", false, false, false};
  if (arch == "Dinov2Model") return {Family::dinov2, "", false, false, false};
  if (arch == "Dinov2WithRegistersModel") return {Family::dinov2, "", false, true, false};
  fail(StatusCode::unsupported, "architecture '", arch.empty() ? "(none)" : arch,
       "' is not supported for classification (supported: ", VitModel::supported_architectures(), ")");
}

const std::vector<ConfigKey>& dinov2_config_keys(bool registers) {
  using U = KeyUse;
  static const auto make = [](bool regs) {
    std::vector<ConfigKey> keys = {
        {"hidden_size", U::honoured}, {"num_hidden_layers", U::honoured}, {"num_attention_heads", U::honoured},
        {"mlp_ratio", U::honoured}, {"hidden_act", U::honoured}, {"layer_norm_eps", U::honoured},
        {"image_size", U::honoured}, {"patch_size", U::honoured}, {"num_channels", U::honoured},
        {"qkv_bias", U::honoured}, {"use_swiglu_ffn", U::honoured}, {"id2label", U::honoured},
        {"label2id", U::honoured}, {"num_labels", U::honoured}, {"problem_type", U::honoured},
        // Initial LayerScale values (the trained ones are in the checkpoint),
        // stochastic depth and dropout: training only.
        {"layerscale_value", U::no_effect}, {"drop_path_rate", U::no_effect}, {"hidden_dropout_prob", U::no_effect},
        {"attention_probs_dropout_prob", U::no_effect}, {"initializer_range", U::no_effect},
        // Masked-image inputs (bool_masked_pos), which the classifier never gets.
        {"use_mask_token", U::no_effect},
        // Dinov2Backbone's outputs; the classifier reads the model's last layer.
        {"out_features", U::no_effect}, {"out_indices", U::no_effect}, {"stage_names", U::no_effect},
        {"apply_layernorm", U::no_effect}, {"reshape_hidden_states", U::no_effect},
        {"output_hidden_states", U::no_effect}, {"output_attentions", U::no_effect}, {"return_dict", U::no_effect},
        {"torchscript", U::no_effect}, {"chunk_size_feed_forward", U::no_effect}, {"dtype", U::no_effect},
        {"torch_dtype", U::no_effect}, {"use_bfloat16", U::no_effect}, {"is_encoder_decoder", U::no_effect},
        {"architectures", U::no_effect}, {"model_type", U::no_effect}, {"transformers_version", U::no_effect},
        {"_name_or_path", U::no_effect}, {"tie_word_embeddings", U::no_effect},
        {"pruned_heads", U::default_only, "{}"},
    };
    if (regs) keys.push_back({"num_register_tokens", U::honoured});
    return keys;
  };
  static const std::vector<ConfigKey> plain = make(false), with_registers = make(true);
  return registers ? with_registers : plain;
}

VitConfig dinov2_config(const nlohmann::json& c, bool registers) {
  refuse_unimplemented_keys(c, "", dinov2_config_keys(registers));
  VitConfig cfg;
  cfg.architecture = io::architecture(c);
  cfg.hidden_size = config_int_in(c, "", "hidden_size", 768, 1, kMaxWidth);
  cfg.num_layers = config_int_in(c, "", "num_hidden_layers", 12, 1, kMaxLayers);
  cfg.num_heads = config_int_in(c, "", "num_attention_heads", 12, 1, kMaxHeads);
  cfg.patch_size = config_int_in(c, "", "patch_size", registers ? 16 : 14, 1, kMaxImageSide);
  cfg.num_channels = config_int_in(c, "", "num_channels", 3, 1, kMaxChannels);
  cfg.image_height = cfg.image_width = config_int_in(c, "", "image_size", 224, 1, kMaxImageSide);
  cfg.qkv_bias = io::config_bool(c, "qkv_bias", true);
  cfg.layer_norm_eps = static_cast<float>(config_positive_double(c, "layer_norm_eps", 1e-6));
  cfg.hidden_act = parse_vit_activation(config_name(c, "", "hidden_act", "gelu"));
  cfg.swiglu = io::config_bool(c, "use_swiglu_ffn", false);
  // int(hidden_size * mlp_ratio), as the MLP's width; SwiGLU keeps two
  // thirds of it, rounded up to a multiple of 8.
  const double ratio = config_number_in(c, "mlp_ratio", 4.0, 0.0, 64.0);
  const int64_t width = static_cast<int64_t>(cfg.hidden_size * ratio);
  int64_t hidden = cfg.swiglu ? (static_cast<int64_t>(double(width) * 2.0 / 3.0) + 7) / 8 * 8 : width;
  if (hidden < 1 || hidden > kMaxFfn)
    fail(StatusCode::corrupt_file, "config.json: hidden_size * mlp_ratio gives a feed-forward width of ", hidden,
         " (1 to ", kMaxFfn, ")");
  cfg.intermediate_size = static_cast<int>(hidden);
  cfg.prefix_tokens = 1 + (registers ? config_int_in(c, "", "num_register_tokens", 4, 0, 1024) : 0);
  // transformers resizes DINOv2's position grid to every input size, with
  // torch's antialiased bicubic for the registers model only.
  cfg.resample_always = true;
  cfg.antialias = registers;
  cfg.pool = VitPool::class_and_mean;
  cfg.labels = checked_labels(c);
  if (cfg.hidden_size % cfg.num_heads != 0)
    fail(StatusCode::corrupt_file, "config.json: hidden_size (", cfg.hidden_size,
         ") is not a multiple of num_attention_heads (", cfg.num_heads, ")");
  if (cfg.image_height < cfg.patch_size)
    fail(StatusCode::corrupt_file, "config.json: image_size is smaller than patch_size");
  return cfg;
}

// YolosConfig: ViT's keys and the detection tokens; image_size is
// [height, width] (512x864 when absent).
VitConfig yolos_config(const nlohmann::json& c) {
  nlohmann::json vit_keys = c;
  for (const char* key : {"num_detection_tokens", "use_mid_position_embeddings", "auxiliary_loss", "class_cost",
                          "bbox_cost", "giou_cost", "bbox_loss_coefficient", "giou_loss_coefficient",
                          "eos_coefficient"})
    vit_keys.erase(key);
  if (!c.contains("image_size") || c["image_size"].is_null()) vit_keys["image_size"] = {512, 864};
  VitConfig cfg = VitConfig::from_json(vit_keys);
  cfg.architecture = io::architecture(c);
  // auxiliary_loss and the matching costs and loss weights are training only.
  cfg.detection_tokens = config_int_in(c, "", "num_detection_tokens", 100, 1, kMaxQueries);
  cfg.mid_positions = io::config_bool(c, "use_mid_position_embeddings", true);
  // transformers resizes the patch table to every input, even its own size.
  cfg.resample_always = true;
  if (cfg.mid_positions && (cfg.image_height % cfg.patch_size || cfg.image_width % cfg.patch_size))
    fail(StatusCode::unsupported, "config.json: use_mid_position_embeddings with an image_size that patch_size ",
         "does not divide is not supported (transformers cannot run it either)");
  return cfg;
}

}  // namespace

VitModel load_hf_vit(const io::ModelFolder& folder, const std::string& arch) {
  const Layout lay = layout_of(arch);
  VitConfig c = lay.family == Family::dinov2  ? dinov2_config(folder.config, lay.registers)
                : lay.family == Family::yolos ? yolos_config(folder.config)
                                              : VitConfig::from_json(folder.config);
  if (lay.family == Family::deit) {
    c.prefix_tokens = 2;  // class and distillation tokens
    c.distilled = lay.teacher;
  }
  const int64_t D = c.hidden_size, I = c.intermediate_size, P = c.patch_size;
  const int64_t grid = int64_t(c.image_height / P) * (c.image_width / P);
  auto table = std::make_shared<graph::WeightTable>();
  CheckpointReader r(folder.weights, *table);
  VitWeights w;
  const std::string e = lay.root + "embeddings.";
  w.patch_w = r.weight(e + "patch_embeddings.projection.weight", {D, c.num_channels, P, P});
  w.patch_b = r.weight(e + "patch_embeddings.projection.bias", {D});
  // The class (and distillation) rows carry positions; registers do not.
  const int positioned = lay.family == Family::deit ? 2 : 1;
  const int64_t det = c.detection_tokens;
  const Tensor pos = r.tensor(e + "position_embeddings", {1, grid + positioned + det, D});
  std::vector<Tensor> prefix = {r.tensor(e + "cls_token", {1, 1, D})};
  if (lay.family == Family::deit) prefix.push_back(r.tensor(e + "distillation_token", {1, 1, D}));
  if (lay.registers && c.prefix_tokens > 1)
    prefix.push_back(r.tensor(e + "register_tokens", {1, c.prefix_tokens - 1, D}));
  w.prefix = prefix_weight(r, e + "prefix_rows", prefix, positioned, pos);
  w.pos = position_rows(r, e + "patch_positions", pos, positioned, grid);
  if (det > 0) {
    const Tensor tokens = r.tensor(e + "detection_tokens", {1, det, D});
    w.suffix = table_rows(r, e + "detection_rows", pos, positioned + grid, det, &tokens);
  }

  const bool dinov2 = lay.family == Family::dinov2;
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string n = std::to_string(i);
    const std::string p = lay.root + "encoder.layer." + n + ".";
    // transformers 5 renames ViT's and DeiT's layers to layers.N and their
    // projections; DINOv2 keeps encoder.layer.N.
    const std::string p5 = dinov2 ? p : lay.root + "layers." + n + ".";
    auto get = [&](const std::string& old_part, const std::string& new_part, const Shape& shape) {
      return r.tensor(p + old_part, shape, p5 + new_part);
    };
    auto weight = [&](const std::string& old_part, const std::string& new_part, const Shape& shape) {
      return r.weight(p + old_part, shape, p5 + new_part);
    };
    VitWeights::Layer L;
    const std::string ln1 = dinov2 ? "norm1" : "layernorm_before", ln2 = dinov2 ? "norm2" : "layernorm_after";
    L.ln1_g = weight(ln1 + ".weight", ln1 + ".weight", {D});
    L.ln1_b = weight(ln1 + ".bias", ln1 + ".bias", {D});
    std::vector<Tensor> qkv_w, qkv_b;
    for (auto [old_name, new_name] : {std::pair{"query", "q_proj"}, {"key", "k_proj"}, {"value", "v_proj"}}) {
      const std::string o = std::string("attention.attention.") + old_name, m = std::string("attention.") + new_name;
      qkv_w.push_back(get(o + ".weight", m + ".weight", {D, D}));
      qkv_b.push_back(c.qkv_bias ? get(o + ".bias", m + ".bias", {D}) : zero_vector(D));
    }
    L.qkv_w = r.stacked(p + "attention.attention.qkv.weight", qkv_w);
    L.qkv_b = r.stacked(p + "attention.attention.qkv.bias", qkv_b);
    const Tensor out_w = get("attention.output.dense.weight", "attention.o_proj.weight", {D, D});
    const Tensor out_b = get("attention.output.dense.bias", "attention.o_proj.bias", {D});
    L.ln2_g = weight(ln2 + ".weight", ln2 + ".weight", {D});
    L.ln2_b = weight(ln2 + ".bias", ln2 + ".bias", {D});
    Tensor fc2_w, fc2_b;
    if (!dinov2) {
      L.fc1_w = weight("intermediate.dense.weight", "mlp.fc1.weight", {I, D});
      L.fc1_b = weight("intermediate.dense.bias", "mlp.fc1.bias", {I});
      fc2_w = get("output.dense.weight", "mlp.fc2.weight", {D, I});
      fc2_b = get("output.dense.bias", "mlp.fc2.bias", {D});
    } else if (!c.swiglu) {
      L.fc1_w = r.weight(p + "mlp.fc1.weight", {I, D});
      L.fc1_b = r.weight(p + "mlp.fc1.bias", {I});
      fc2_w = r.tensor(p + "mlp.fc2.weight", {D, I});
      fc2_b = r.tensor(p + "mlp.fc2.bias", {D});
    } else if (r.has(p + "mlp.weights_in.weight")) {
      // 4.x: one projection whose first half of rows is the gate.
      const Tensor in_w = r.tensor(p + "mlp.weights_in.weight", {2 * I, D});
      const Tensor in_b = r.tensor(p + "mlp.weights_in.bias", {2 * I});
      L.fc1_w = row_slice(r, p + "mlp.gate_proj.weight", in_w, 0, I);
      L.fc1_b = row_slice(r, p + "mlp.gate_proj.bias", in_b, 0, I);
      L.up_w = row_slice(r, p + "mlp.up_proj.weight", in_w, I, I);
      L.up_b = row_slice(r, p + "mlp.up_proj.bias", in_b, I, I);
      fc2_w = r.tensor(p + "mlp.weights_out.weight", {D, I});
      fc2_b = r.tensor(p + "mlp.weights_out.bias", {D});
    } else {
      L.fc1_w = r.weight(p + "mlp.gate_proj.weight", {I, D});
      L.fc1_b = r.weight(p + "mlp.gate_proj.bias", {I});
      L.up_w = r.weight(p + "mlp.up_proj.weight", {I, D});
      L.up_b = r.weight(p + "mlp.up_proj.bias", {I});
      fc2_w = r.tensor(p + "mlp.down_proj.weight", {D, I});
      fc2_b = r.tensor(p + "mlp.down_proj.bias", {D});
    }
    // DINOv2's LayerScale, folded into each branch's last projection.
    const Tensor ls1 = dinov2 ? r.tensor(p + "layer_scale1.lambda1", {D}) : Tensor();
    const Tensor ls2 = dinov2 ? r.tensor(p + "layer_scale2.lambda1", {D}) : Tensor();
    L.out_w = residual_projection(r, p + "attention.output.dense.weight", out_w, dinov2 ? &ls1 : nullptr);
    L.out_b = residual_projection(r, p + "attention.output.dense.bias", out_b, dinov2 ? &ls1 : nullptr);
    L.fc2_w = residual_projection(r, p + "output.dense.weight", fc2_w, dinov2 ? &ls2 : nullptr);
    L.fc2_b = residual_projection(r, p + "output.dense.bias", fc2_b, dinov2 ? &ls2 : nullptr);
    w.layers.push_back(L);
  }
  w.norm_g = r.weight(lay.root + "layernorm.weight", {D});
  w.norm_b = r.weight(lay.root + "layernorm.bias", {D});
  if (lay.family == Family::yolos) {
    if (c.mid_positions && c.num_layers > 1) {
      const int64_t rows = 1 + grid + det;
      const Tensor mid = r.tensor(lay.root + "encoder.mid_position_embeddings", {c.num_layers - 1, 1, rows, D},
                                  lay.root + "encoder.interpolation.mid_position_embeddings");
      for (int i = 0; i + 1 < c.num_layers; ++i) {
        const std::string n = lay.root + "encoder.mid_position_embeddings." + std::to_string(i);
        w.mid.push_back({table_rows(r, n + ".class", mid, i * rows, 1),
                         table_rows(r, n + ".patches", mid, i * rows + 1, grid),
                         table_rows(r, n + ".detection", mid, i * rows + 1 + grid, det)});
      }
    }
    const int64_t labels = static_cast<int64_t>(c.labels.size());
    for (int k = 0; k < 3; ++k) {
      const std::string cls = "class_labels_classifier.layers." + std::to_string(k) + ".";
      const std::string box = "bbox_predictor.layers." + std::to_string(k) + ".";
      const int64_t out_cls = k < 2 ? D : labels + 1, out_box = k < 2 ? D : 4;
      w.class_mlp.push_back({r.weight(cls + "weight", {out_cls, D}), r.weight(cls + "bias", {out_cls})});
      w.box_mlp.push_back({r.weight(box + "weight", {out_box, D}), r.weight(box + "bias", {out_box})});
    }
  }
  const int64_t labels = static_cast<int64_t>(c.labels.size());
  const int64_t in = dinov2 ? 2 * D : D;
  if (!lay.head) {
    c.labels.clear();
  } else if (lay.family == Family::yolos) {
    // The detection heads above.
  } else if (lay.teacher) {
    w.heads.push_back({r.weight("cls_classifier.weight", {labels, D}), r.weight("cls_classifier.bias", {labels})});
    w.heads.push_back({r.weight("distillation_classifier.weight", {labels, D}),
                       r.weight("distillation_classifier.bias", {labels})});
  } else {
    w.heads.push_back({r.weight("classifier.weight", {labels, in}), r.weight("classifier.bias", {labels})});
  }
  // transformers' classifiers ignore the pooler and the mask token.
  refuse_unused(folder, r.used(), {lay.root + "pooler.", e + "mask_token"}, [&](const std::string& name) {
    const bool layer = name.rfind(lay.root + "encoder.layer.", 0) == 0 || name.rfind(lay.root + "layers.", 0) == 0;
    return layer ? "num_hidden_layers " + std::to_string(c.num_layers) : std::string();
  });
  const int64_t parameters = r.parameters();
  return VitModel(std::move(c), std::move(table), std::move(w), parameters);
}

}  // namespace visionrt::models
