// timm's own ViT checkpoints (timm/vit_*, timm/deit_*, timm/vit_*_dinov2)
// as the hub and timm.models.save_for_hf write them: config.json with
// "architecture", optional "model_args" and "pretrained_cfg", and timm's
// tensor names (blocks.N.attn.qkv.weight, head.weight...). The
// architecture's name gives its defaults, as timm's model registry does;
// model_args override them.
#include <regex>
#include <string>

#include "core/error.hpp"
#include "models/checkpoint_reader.hpp"
#include "models/vit.hpp"
#include "models/vit_loading.hpp"

namespace visionrt::models {
namespace {

using json = nlohmann::json;

// timm's registered defaults for one architecture name.
struct TimmArch {
  int embed_dim = 768, depth = 12, heads = 12, patch = 16, img = 224;
  bool layer_scale = false, no_embed_class = false, distilled = false;
  int reg_tokens = 0;
};

// vit_{tiny,small,base,large,huge}_patch{P}_{224,384,...,dinov2,reg4_dinov2}
// and deit_{tiny,small,base}[_distilled]_patch16_{224,384}.
TimmArch timm_arch(const std::string& name) {
  static const std::regex pattern(
      R"(^(vit|deit)_(tiny|small|base|large|huge)(_distilled)?_patch(8|14|16|32)_(\d+|dinov2|reg4_dinov2)$)");
  std::smatch m;
  if (!std::regex_match(name, m, pattern))
    fail(StatusCode::unsupported, "config.json: timm architecture '", name,
         "' is not supported (supported: vit_{tiny,small,base,large,huge}_patch{8,14,16,32}_{size,dinov2,"
         "reg4_dinov2} and deit_{tiny,small,base}[_distilled]_patch16_{size})");
  TimmArch a;
  const std::string size = m[2], tail = m[5];
  if (size == "tiny") a.embed_dim = 192, a.heads = 3;
  if (size == "small") a.embed_dim = 384, a.heads = 6;
  if (size == "large") a.embed_dim = 1024, a.heads = 16, a.depth = 24;
  if (size == "huge") a.embed_dim = 1280, a.heads = 16, a.depth = 32;
  a.patch = std::stoi(m[4]);
  a.distilled = m[3].matched;
  if (a.distilled && m[1] != "deit") fail(StatusCode::unsupported, "config.json: timm architecture '", name, "' is not supported");
  if (tail == "dinov2" || tail == "reg4_dinov2") {
    a.img = 518;
    a.layer_scale = true;
    if (tail == "reg4_dinov2") a.reg_tokens = 4, a.no_embed_class = true;
  } else {
    a.img = std::stoi(tail);
  }
  return a;
}

const std::vector<ConfigKey>& timm_model_arg_keys() {
  using U = KeyUse;
  static const std::vector<ConfigKey> keys = {
      {"img_size", U::honoured}, {"patch_size", U::honoured}, {"in_chans", U::honoured},
      {"num_classes", U::honoured}, {"global_pool", U::honoured}, {"embed_dim", U::honoured},
      {"depth", U::honoured}, {"num_heads", U::honoured}, {"mlp_ratio", U::honoured}, {"qkv_bias", U::honoured},
      {"init_values", U::honoured}, {"class_token", U::honoured}, {"no_embed_class", U::honoured},
      {"reg_tokens", U::honoured}, {"fc_norm", U::honoured}, {"final_norm", U::honoured},
      {"dynamic_img_size", U::honoured}, {"distilled", U::honoured},
      // Dropout, stochastic depth and initialisation: training only.
      {"drop_rate", U::no_effect}, {"pos_drop_rate", U::no_effect}, {"patch_drop_rate", U::no_effect},
      {"proj_drop_rate", U::no_effect}, {"attn_drop_rate", U::no_effect}, {"drop_path_rate", U::no_effect},
      {"weight_init", U::no_effect}, {"fix_init", U::no_effect},
      // Layers visionrt does not build.
      {"qk_norm", U::default_only, "false"}, {"scale_attn_norm", U::default_only, "false"},
      {"scale_mlp_norm", U::default_only, "false"}, {"proj_bias", U::default_only, "true"},
      {"pos_embed", U::default_only, "\"learn\""}, {"pre_norm", U::default_only, "false"},
      {"pool_include_prefix", U::default_only, "false"}, {"dynamic_img_pad", U::default_only, "false"},
      {"embed_norm_layer", U::default_only, "null"}, {"norm_layer", U::default_only, "null"},
      {"act_layer", U::default_only, "null"}, {"block_fn", U::default_only, "null"},
      {"mlp_layer", U::default_only, "null"}, {"attn_layer", U::default_only, "null"},
      {"embed_layer", U::default_only, "null"}, {"distilled_training", U::default_only, "false"},
  };
  return keys;
}

// Every top-level key timm reads from a hub config.json.
const std::vector<ConfigKey>& timm_config_keys() {
  using U = KeyUse;
  static const std::vector<ConfigKey> keys = {
      {"architecture", U::honoured}, {"num_classes", U::honoured}, {"model_args", U::honoured},
      {"pretrained_cfg", U::honoured},  // the preprocessing (io::ModelFolder reads it)
      {"label_names", U::honoured},
      // Written for information; timm builds the model without them.
      {"num_features", U::no_effect}, {"global_pool", U::no_effect}, {"label_descriptions", U::no_effect},
  };
  return keys;
}

bool arg_bool(const json& args, const char* key, bool fallback) {
  const auto it = args.find(key);
  if (it == args.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail(StatusCode::corrupt_file, "config.json: model_args.", key, " must be true or false");
  return it->get<bool>();
}

// img_size: an integer, or [height, width].
void read_img_size(const json& args, int fallback, VitConfig& c) {
  const auto it = args.find("img_size");
  if (it != args.end() && it->is_array()) {
    const std::vector<int> hw = config_ints_in(args, "model_args", "img_size", {}, 2, 1, kMaxImageSide);
    c.image_height = hw[0];
    c.image_width = hw[1];
  } else {
    c.image_height = c.image_width = config_int_in(args, "model_args", "img_size", fallback, 1, kMaxImageSide);
  }
}

std::vector<std::string> timm_labels(const json& config, int classes) {
  std::vector<std::string> labels(classes);
  const auto names = config.find("label_names");
  for (int i = 0; i < classes; ++i) {
    labels[i] = "LABEL_" + std::to_string(i);
    if (names == config.end()) continue;
    const json* v = nullptr;
    if (names->is_array() && i < int(names->size())) v = &(*names)[i];
    if (names->is_object() && names->contains(std::to_string(i))) v = &(*names)[std::to_string(i)];
    if (v && v->is_string()) labels[i] = v->get<std::string>();
  }
  return labels;
}

}  // namespace

VitModel load_timm_vit(const io::ModelFolder& folder) {
  const json& cfg = folder.config;
  refuse_unimplemented_keys(cfg, "", timm_config_keys());
  const std::string arch = cfg["architecture"].get<std::string>();
  const TimmArch a = timm_arch(arch);
  static const json kNoArgs = json::object();
  const auto args_it = cfg.find("model_args");
  const json& args = args_it != cfg.end() && args_it->is_object() ? *args_it : kNoArgs;
  if (args_it != cfg.end() && !args_it->is_object() && !args_it->is_null())
    fail(StatusCode::corrupt_file, "config.json: key 'model_args' must be an object");
  refuse_unimplemented_keys(args, "model_args", timm_model_arg_keys());

  VitConfig c;
  c.architecture = arch;
  c.hidden_size = config_int_in(args, "model_args", "embed_dim", a.embed_dim, 1, kMaxWidth);
  c.num_layers = config_int_in(args, "model_args", "depth", a.depth, 1, kMaxLayers);
  c.num_heads = config_int_in(args, "model_args", "num_heads", a.heads, 1, kMaxHeads);
  c.patch_size = config_int_in(args, "model_args", "patch_size", a.patch, 1, kMaxImageSide);
  c.num_channels = config_int_in(args, "model_args", "in_chans", 3, 1, kMaxChannels);
  read_img_size(args, a.img, c);
  const double ratio = config_number_in(args, "mlp_ratio", 4.0, 0.0, 64.0);
  c.intermediate_size = static_cast<int>(c.hidden_size * ratio);
  c.qkv_bias = arg_bool(args, "qkv_bias", true);
  c.layer_norm_eps = 1e-6f;  // timm's LayerNorm(eps=1e-6)
  c.hidden_act = Activation::gelu_erf;
  const auto init = args.find("init_values");
  const bool layer_scale = init != args.end() ? !init->is_null() : a.layer_scale;
  const bool class_token = arg_bool(args, "class_token", true);
  const bool no_embed_class = arg_bool(args, "no_embed_class", a.no_embed_class);
  const bool distilled = arg_bool(args, "distilled", a.distilled);
  const int regs = config_int_in(args, "model_args", "reg_tokens", a.reg_tokens, 0, 1024);
  c.prefix_tokens = (class_token ? 1 : 0) + (distilled ? 1 : 0) + regs;
  const std::string pool = args.contains("global_pool") && args["global_pool"].is_string()
                               ? args["global_pool"].get<std::string>()
                               : "token";
  if (pool == "token") {
    if (!class_token) fail(StatusCode::corrupt_file, "config.json: model_args.global_pool 'token' needs a class token");
    c.pool = VitPool::class_token;
  } else if (pool == "avg") {
    c.pool = VitPool::mean;
  } else {
    fail(StatusCode::unsupported, "config.json: model_args.global_pool '", pool,
         "' is not supported (supported: token, avg)");
  }
  // fc_norm (None: on for "avg") moves the final norm after the pooling.
  const bool fc_norm = arg_bool(args, "fc_norm", pool == "avg");
  const bool final_norm = arg_bool(args, "final_norm", true);
  c.distilled = distilled;
  if (distilled && (!class_token || pool != "token"))
    fail(StatusCode::unsupported, "config.json: a distilled timm ViT needs its class token and global_pool 'token'");
  // dynamic_img_size resamples the position grid to each input, antialiased.
  c.resample_always = arg_bool(args, "dynamic_img_size", false);
  c.antialias = true;
  // num_classes 0: no head (timm's feature extractors).
  const int classes = config_int_in(args, "model_args", "num_classes",
                                    config_int_in(cfg, "", "num_classes", 1000, 0, io::kMaxLabels), 0, io::kMaxLabels);
  c.labels = timm_labels(cfg, classes);
  if (c.hidden_size % c.num_heads != 0)
    fail(StatusCode::corrupt_file, "config.json: embed_dim (", c.hidden_size, ") is not a multiple of num_heads (",
         c.num_heads, ")");
  if (c.image_height < c.patch_size || c.image_width < c.patch_size)
    fail(StatusCode::corrupt_file, "config.json: model_args.img_size is smaller than patch_size");
  if (c.intermediate_size < 1 || c.intermediate_size > kMaxFfn)
    fail(StatusCode::corrupt_file, "config.json: model_args.mlp_ratio gives a feed-forward width of ",
         c.intermediate_size, " (1 to ", kMaxFfn, ")");

  const int64_t D = c.hidden_size, I = c.intermediate_size, P = c.patch_size;
  const int64_t grid = int64_t(c.image_height / P) * (c.image_width / P);
  const int positioned = no_embed_class ? 0 : c.prefix_tokens;
  auto table = std::make_shared<graph::WeightTable>();
  CheckpointReader r(folder.weights, *table);
  VitWeights w;
  w.patch_w = r.weight("patch_embed.proj.weight", {D, c.num_channels, P, P});
  w.patch_b = r.weight("patch_embed.proj.bias", {D});
  const Tensor pos = r.tensor("pos_embed", {1, grid + positioned, D});
  std::vector<Tensor> prefix;
  if (class_token) prefix.push_back(r.tensor("cls_token", {1, 1, D}));
  if (distilled) prefix.push_back(r.tensor("dist_token", {1, 1, D}));
  if (regs > 0) prefix.push_back(r.tensor("reg_token", {1, regs, D}));
  if (!prefix.empty()) w.prefix = prefix_weight(r, "prefix_rows", prefix, positioned, pos);
  w.pos = position_rows(r, "patch_positions", pos, positioned, grid);
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    VitWeights::Layer L;
    L.ln1_g = r.weight(p + "norm1.weight", {D});
    L.ln1_b = r.weight(p + "norm1.bias", {D});
    L.qkv_w = r.weight(p + "attn.qkv.weight", {3 * D, D});
    L.qkv_b = c.qkv_bias ? r.weight(p + "attn.qkv.bias", {3 * D}) : r.add(p + "attn.qkv.bias", zero_vector(3 * D));
    const Tensor out_w = r.tensor(p + "attn.proj.weight", {D, D}), out_b = r.tensor(p + "attn.proj.bias", {D});
    L.ln2_g = r.weight(p + "norm2.weight", {D});
    L.ln2_b = r.weight(p + "norm2.bias", {D});
    L.fc1_w = r.weight(p + "mlp.fc1.weight", {I, D});
    L.fc1_b = r.weight(p + "mlp.fc1.bias", {I});
    const Tensor fc2_w = r.tensor(p + "mlp.fc2.weight", {D, I}), fc2_b = r.tensor(p + "mlp.fc2.bias", {D});
    const Tensor ls1 = layer_scale ? r.tensor(p + "ls1.gamma", {D}) : Tensor();
    const Tensor ls2 = layer_scale ? r.tensor(p + "ls2.gamma", {D}) : Tensor();
    L.out_w = residual_projection(r, p + "attn.proj.weight", out_w, layer_scale ? &ls1 : nullptr);
    L.out_b = residual_projection(r, p + "attn.proj.bias", out_b, layer_scale ? &ls1 : nullptr);
    L.fc2_w = residual_projection(r, p + "mlp.fc2.weight", fc2_w, layer_scale ? &ls2 : nullptr);
    L.fc2_b = residual_projection(r, p + "mlp.fc2.bias", fc2_b, layer_scale ? &ls2 : nullptr);
    w.layers.push_back(L);
  }
  // timm: norm over every token (Identity under fc_norm or without
  // final_norm), pool, fc_norm, head.
  if (final_norm && !fc_norm) {
    w.norm_g = r.weight("norm.weight", {D});
    w.norm_b = r.weight("norm.bias", {D});
  }
  if (final_norm && fc_norm) {
    w.fc_norm_g = r.weight("fc_norm.weight", {D});
    w.fc_norm_b = r.weight("fc_norm.bias", {D});
  }
  const int64_t labels = classes;
  if (labels > 0) {
    w.heads.push_back({r.weight("head.weight", {labels, D}), r.weight("head.bias", {labels})});
    if (distilled)
      w.heads.push_back({r.weight("head_dist.weight", {labels, D}), r.weight("head_dist.bias", {labels})});
  }
  refuse_unused(folder, r.used(), {}, [&](const std::string& name) {
    return name.rfind("blocks.", 0) == 0 ? "depth " + std::to_string(c.num_layers) : std::string();
  });
  const int64_t parameters = r.parameters();
  return VitModel(std::move(c), std::move(table), std::move(w), parameters);
}

}  // namespace visionrt::models
