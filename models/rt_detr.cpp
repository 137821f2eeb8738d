// RT-DETR's config and weights; rt_detr_graph.cpp builds its graph.
#include "models/rt_detr.hpp"

#include "core/error.hpp"
#include "models/checkpoint_reader.hpp"
#include "models/config_checks.hpp"

namespace visionrt::models {
namespace {

// transformers' ACT2FN names of the activations visionrt implements.
Activation parse_activation(const nlohmann::json& c, const char* key, const char* fallback) {
  const std::string act = config_name(c, "", key, fallback);
  if (act == "relu") return Activation::relu;
  if (act == "gelu") return Activation::gelu_erf;
  if (act == "gelu_new" || act == "gelu_pytorch_tanh") return Activation::gelu_tanh;
  if (act == "silu" || act == "swish") return Activation::silu;
  fail(StatusCode::unsupported, "config.json: key '", key, "' is '", act,
       "' (supported: relu, gelu, gelu_new, gelu_pytorch_tanh, silu, swish)");
}

// A list of 1 to kMaxLevels integers from lo to hi.
std::vector<int> level_list(const nlohmann::json& c, const char* key, const std::vector<int>& fallback, int lo,
                            int hi) {
  const auto it = c.find(key);
  const size_t count = it != c.end() && it->is_array() ? it->size() : fallback.size();
  if (count < 1 || count > graph::kMaxLevels)
    fail(StatusCode::unsupported, "config.json: key '", key, "' lists ", count, " levels (1 to ", graph::kMaxLevels,
         " are supported)");
  return config_ints_in(c, "", key, fallback, count, lo, hi);
}

}  // namespace

const std::vector<ConfigKey>& rt_detr_config_keys(int version) {
  using U = KeyUse;
  static const std::vector<ConfigKey> v1 = {
      {"d_model", U::honoured}, {"encoder_hidden_dim", U::honoured}, {"encoder_in_channels", U::honoured},
      {"feat_strides", U::honoured}, {"encoder_layers", U::honoured}, {"encoder_ffn_dim", U::honoured},
      {"encoder_attention_heads", U::honoured}, {"encode_proj_layers", U::honoured},
      {"positional_encoding_temperature", U::honoured}, {"encoder_activation_function", U::honoured},
      {"activation_function", U::honoured}, {"normalize_before", U::honoured}, {"hidden_expansion", U::honoured},
      {"num_queries", U::honoured}, {"decoder_in_channels", U::honoured}, {"decoder_ffn_dim", U::honoured},
      {"num_feature_levels", U::honoured}, {"decoder_n_points", U::honoured}, {"decoder_layers", U::honoured},
      {"decoder_attention_heads", U::honoured}, {"decoder_activation_function", U::honoured},
      {"learn_initial_query", U::honoured}, {"anchor_image_size", U::honoured}, {"eval_size", U::honoured},
      {"layer_norm_eps", U::honoured}, {"batch_norm_eps", U::honoured}, {"backbone_config", U::honoured},
      {"id2label", U::honoured}, {"label2id", U::honoured}, {"num_labels", U::honoured},
      {"hidden_size", U::honoured}, {"num_attention_heads", U::honoured},
      // Training, initialisation and the loss: dropout, denoising queries,
      // the matcher's and the losses' weights, frozen norms (folded either
      // way), the box refinement every checkpoint has.
      {"dropout", U::no_effect}, {"activation_dropout", U::no_effect}, {"attention_dropout", U::no_effect},
      {"num_denoising", U::no_effect}, {"label_noise_ratio", U::no_effect}, {"box_noise_scale", U::no_effect},
      {"initializer_range", U::no_effect}, {"initializer_bias_prior_prob", U::no_effect},
      {"freeze_backbone_batch_norms", U::no_effect}, {"with_box_refine", U::no_effect},
      {"matcher_alpha", U::no_effect}, {"matcher_gamma", U::no_effect}, {"matcher_class_cost", U::no_effect},
      {"matcher_bbox_cost", U::no_effect}, {"matcher_giou_cost", U::no_effect}, {"use_focal_loss", U::no_effect},
      {"auxiliary_loss", U::no_effect}, {"focal_loss_alpha", U::no_effect}, {"focal_loss_gamma", U::no_effect},
      {"weight_loss_vfl", U::no_effect}, {"weight_loss_bbox", U::no_effect}, {"weight_loss_giou", U::no_effect},
      {"eos_coefficient", U::no_effect}, {"use_pretrained_backbone", U::no_effect},
      {"disable_custom_kernels", U::no_effect},
      // Output format and bookkeeping.
      {"output_hidden_states", U::no_effect}, {"output_attentions", U::no_effect}, {"return_dict", U::no_effect},
      {"torchscript", U::no_effect}, {"chunk_size_feed_forward", U::no_effect}, {"dtype", U::no_effect},
      {"torch_dtype", U::no_effect}, {"is_encoder_decoder", U::no_effect}, {"problem_type", U::no_effect},
      {"architectures", U::no_effect}, {"model_type", U::no_effect}, {"transformers_version", U::no_effect},
      {"_name_or_path", U::no_effect}, {"tie_word_embeddings", U::no_effect},
      // Another backbone than the config's own ResNet-vd.
      {"use_timm_backbone", U::default_only, "false"}, {"backbone", U::default_only, "null"},
      {"backbone_kwargs", U::default_only, "null"}, {"pruned_heads", U::default_only, "{}"},
  };
  static const std::vector<ConfigKey> v2 = [] {
    std::vector<ConfigKey> keys = v1;
    keys.push_back({"decoder_n_levels", U::honoured});
    keys.push_back({"decoder_offset_scale", U::honoured});
    keys.push_back({"decoder_method", U::honoured});
    return keys;
  }();
  static const std::vector<ConfigKey> v3 = [] {
    std::vector<ConfigKey> keys = v1;
    for (const char* k : {"decoder_offset_scale", "decoder_method", "eval_idx", "max_num_bins", "reg_scale", "up",
                          "depth_mult", "top_prob_values", "lqe_hidden_dim", "lqe_layers"})
      keys.push_back({k, U::honoured});
    // layer_scale sizes only the box heads of layers after eval_idx, which
    // must be the last; the rest weigh D-FINE's losses.
    for (const char* k : {"layer_scale", "weight_loss_fgl", "weight_loss_ddf"}) keys.push_back({k, U::no_effect});
    return keys;
  }();
  return version == 3 ? v3 : version == 2 ? v2 : v1;
}

RtDetrConfig RtDetrConfig::from_json(const nlohmann::json& config, int version) {
  const nlohmann::json c = with_d_model_aliases(config);
  refuse_unimplemented_keys(c, "", rt_detr_config_keys(version));
  RtDetrConfig cfg;
  cfg.version = version;
  cfg.d_model = config_int_in(c, "", "d_model", 256, 4, kMaxWidth);
  cfg.encoder_hidden_dim = config_int_in(c, "", "encoder_hidden_dim", 256, 4, kMaxWidth);
  cfg.encoder_in_channels = level_list(c, "encoder_in_channels", {512, 1024, 2048}, 1, kMaxWidth);
  cfg.feat_strides = level_list(c, "feat_strides", {8, 16, 32}, 1, 1024);
  cfg.encode_proj_layers = config_ints_in(
      c, "", "encode_proj_layers", {2}, c.contains("encode_proj_layers") && c["encode_proj_layers"].is_array()
                                             ? c["encode_proj_layers"].size() : 1,
      0, static_cast<int>(cfg.encoder_in_channels.size()) - 1);
  cfg.encoder_layers = config_int_in(c, "", "encoder_layers", 1, 0, kMaxLayers);
  cfg.encoder_ffn = config_int_in(c, "", "encoder_ffn_dim", 1024, 1, kMaxFfn);
  cfg.encoder_heads = config_int_in(c, "", "encoder_attention_heads", 8, 1, kMaxHeads);
  cfg.temperature = config_number_in(c, "positional_encoding_temperature", 10000, 1, 1e9);
  cfg.encoder_activation = parse_activation(c, "encoder_activation_function", "gelu");
  cfg.activation = parse_activation(c, "activation_function", "silu");
  cfg.decoder_activation = parse_activation(c, "decoder_activation_function", "relu");
  cfg.normalize_before = io::config_bool(c, "normalize_before", false);
  cfg.learn_initial_query = io::config_bool(c, "learn_initial_query", false);
  cfg.hidden_expansion = config_number_in(c, "hidden_expansion", 1.0, 0, 64);
  cfg.num_queries = config_int_in(c, "", "num_queries", 300, 1, kMaxQueries);
  cfg.decoder_in_channels = level_list(c, "decoder_in_channels", {256, 256, 256}, 1, kMaxWidth);
  cfg.decoder_ffn = config_int_in(c, "", "decoder_ffn_dim", 1024, 1, kMaxFfn);
  cfg.num_feature_levels = config_int_in(c, "", "num_feature_levels", 3, 1, graph::kMaxLevels);
  if (version == 3 && c.contains("decoder_n_points") && c["decoder_n_points"].is_array()) {
    cfg.level_points = config_ints_in(c, "", "decoder_n_points", {}, cfg.num_feature_levels, 1, 64);
  } else {
    cfg.decoder_points = config_int_in(c, "", "decoder_n_points", 4, 1, 64);
    cfg.level_points.assign(cfg.num_feature_levels, cfg.decoder_points);
  }
  cfg.decoder_layers = config_int_in(c, "", "decoder_layers", 6, 1, kMaxLayers);
  cfg.decoder_heads = config_int_in(c, "", "decoder_attention_heads", 8, 1, kMaxHeads);
  cfg.layer_norm_eps = config_positive_double(c, "layer_norm_eps", 1e-5);
  cfg.batch_norm_eps = config_positive_double(c, "batch_norm_eps", 1e-5);
  cfg.labels = checked_labels(c);
  if (const auto it = c.find("anchor_image_size"); it != c.end() && !it->is_null())
    cfg.anchor_image_size = config_ints_in(c, "", "anchor_image_size", {}, 2, 1, kMaxImageSide);
  // transformers' AIFI builds its positions only while eval_size is null;
  // with it set, the encoder layers run without them.
  if (const auto it = c.find("eval_size"); it != c.end() && !it->is_null()) cfg.aifi_positions = false;
  if (version == 3) {
    const int layers = cfg.decoder_layers;
    const int eval_idx = config_int_in(c, "", "eval_idx", -1, -layers, layers - 1);
    if (eval_idx != -1 && eval_idx != layers - 1)
      fail(StatusCode::unsupported, "config.json: key 'eval_idx' is ", eval_idx,
           " (supported: the last decoder layer, -1 or ", layers - 1, ")");
    cfg.max_num_bins = config_int_in(c, "", "max_num_bins", 32, 2, 1024);
    if (cfg.max_num_bins % 2) fail(StatusCode::unsupported, "config.json: key 'max_num_bins' must be even");
    cfg.reg_scale = config_number_in(c, "reg_scale", 4.0, 0, 1e6);
    cfg.up = config_number_in(c, "up", 0.5, 0, 1e6);
    cfg.depth_mult = config_number_in(c, "depth_mult", 1.0, -1, 64);
    cfg.top_prob_values = config_int_in(c, "", "top_prob_values", 4, 1, cfg.max_num_bins + 1);
    cfg.lqe_hidden_dim = config_int_in(c, "", "lqe_hidden_dim", 64, 1, kMaxWidth);
    cfg.lqe_layers = config_int_in(c, "", "lqe_layers", 2, 1, kMaxLayers);
  }
  if (version >= 2) {
    const int levels = version == 3 ? cfg.num_feature_levels
                                    : config_int_in(c, "", "decoder_n_levels", 3, 1, graph::kMaxLevels);
    if (levels != cfg.num_feature_levels)
      fail(StatusCode::corrupt_file, "config.json: decoder_n_levels (", levels, ") differs from num_feature_levels (",
           cfg.num_feature_levels, "), the levels the decoder is given");
    cfg.offset_scale = config_number_in(c, "decoder_offset_scale", 0.5, 0, 1e3);
    const std::string method = config_name(c, "", "decoder_method", "default");
    if (method != "default" && method != "discrete")
      fail(StatusCode::unsupported, "config.json: key 'decoder_method' is '", method, "' (supported: default, discrete)");
    cfg.discrete = method == "discrete";
  }
  if (cfg.feat_strides.size() != cfg.encoder_in_channels.size())
    fail(StatusCode::corrupt_file, "config.json: feat_strides and encoder_in_channels list different level counts");
  if (cfg.decoder_in_channels.size() != cfg.encoder_in_channels.size() ||
      static_cast<int>(cfg.decoder_in_channels.size()) > cfg.num_feature_levels)
    fail(StatusCode::corrupt_file, "config.json: decoder_in_channels must list one width per encoder level, at most "
                                   "num_feature_levels");
  for (int w : cfg.decoder_in_channels)
    if (w != cfg.encoder_hidden_dim)
      fail(StatusCode::corrupt_file, "config.json: decoder_in_channels (", w, ") must equal encoder_hidden_dim (",
           cfg.encoder_hidden_dim, "): the decoder reads the encoder's maps");
  if (cfg.d_model % cfg.decoder_heads || cfg.encoder_hidden_dim % cfg.encoder_heads || cfg.encoder_hidden_dim % 4)
    fail(StatusCode::corrupt_file, "config.json: d_model (", cfg.d_model, ") must be a multiple of the decoder's heads, "
         "encoder_hidden_dim (", cfg.encoder_hidden_dim, ") of 4 and of the encoder's heads");
  if (cfg.labels.empty()) fail(StatusCode::corrupt_file, "config.json: the model has no labels");
  return cfg;
}

RtDetrModel::Linear RtDetrModel::read_linear(CheckpointReader& n, const std::string& name, int64_t out, int64_t in,
                                             const std::string& alt) {
  return {n.weight(name + ".weight", {out, in}, alt.empty() ? "" : alt + ".weight"),
          n.weight(name + ".bias", {out}, alt.empty() ? "" : alt + ".bias")};
}

RtDetrModel::Norm RtDetrModel::read_norm(CheckpointReader& n, const std::string& p, int64_t width) {
  return Norm{n.weight(p + ".weight", {width}), n.weight(p + ".bias", {width})};
}

RtDetrModel::Attention RtDetrModel::read_self_attention(CheckpointReader& n, const std::string& p, int64_t width) {
  Attention a;
  auto joined = [&](const char* part) {
    const Shape shape = part[0] == 'w' ? Shape{width, width} : Shape{width};
    return n.stacked(p + "qk_proj." + part, {n.tensor(p + "q_proj." + part, shape), n.tensor(p + "k_proj." + part, shape)});
  };
  a.qk_w = joined("weight");
  a.qk_b = joined("bias");
  const Linear v = read_linear(n, p + "v_proj", width, width), o = read_linear(n, p + "out_proj", width, width);
  a.v_w = v.w;
  a.v_b = v.b;
  a.o_w = o.w;
  a.o_b = o.b;
  return a;
}

RtDetrModel::CspBlock RtDetrModel::read_csp(CheckpointReader& n, const std::string& p, int64_t in, int64_t hidden,
                                            int64_t out, int blocks, double eps) {
  CspBlock b;
  b.conv1 = read_conv_bn(n, p + ".conv1.conv.weight", p + ".conv1.norm", hidden, in, 1, 1, 1, eps);
  b.conv2 = read_conv_bn(n, p + ".conv2.conv.weight", p + ".conv2.norm", hidden, in, 1, 1, 1, eps);
  for (int k = 0; k < blocks; ++k) {
    const std::string r = p + ".bottlenecks." + std::to_string(k);
    b.bottlenecks.push_back(read_repvgg(n, r + ".conv1.conv.weight", r + ".conv1.norm", r + ".conv2.conv.weight",
                                        r + ".conv2.norm", hidden, eps));
  }
  b.has_conv3 = hidden != out;
  if (b.has_conv3) b.conv3 = read_conv_bn(n, p + ".conv3.conv.weight", p + ".conv3.norm", out, hidden, 1, 1, 1, eps);
  return b;
}

void RtDetrModel::check_points_scale(CheckpointReader& n, const std::string& name, const std::vector<int>& level_points) {
  // RT-DETRv2 and D-FINE save their offset factors, 1 / (the level's
  // points) per point: they must be the ones the config implies.
  int64_t total = 0;
  for (int p : level_points) total += p;
  const Tensor scale = to_f32(n.tensor(name, {total}));
  int64_t k = 0;
  for (int p : level_points)
    for (int i = 0; i < p; ++i, ++k)
      if (scale.f32()[k] != 1.f / float(p))
        fail(StatusCode::unsupported, name, " holds ", scale.f32()[k], " where decoder_n_points gives 1/", p);
}

RtDetrModel RtDetrModel::load(const io::ModelFolder& folder) {
  RtDetrModel m;
  const std::string arch = io::architecture(folder.config);
  const int version = arch == "DFineForObjectDetection" ? 3 : arch == "RTDetrV2ForObjectDetection" ? 2 : 1;
  m.cfg_ = RtDetrConfig::from_json(folder.config, version);
  const RtDetrConfig& c = m.cfg_;
  auto table = std::make_shared<graph::WeightTable>();
  CheckpointReader n(folder.weights, *table);
  const auto bb = folder.config.find("backbone_config");
  const std::string bb_type = bb != folder.config.end() && bb->is_object() ? io::config_string(*bb, "model_type", "") : "";
  if (bb_type == "rt_detr_resnet") {
    m.resnet_ = RtDetrResnet::load(*bb, n, "model.backbone.model.");
    m.backbone_channels_ = m.resnet_.out_channels();
    m.backbone_strides_ = m.resnet_.out_strides();
  } else if (bb_type == "hgnet_v2") {
    m.hgnet_ = HgnetV2::load(*bb, n, "model.backbone.model.");
    m.uses_hgnet_ = true;
    m.backbone_channels_ = m.hgnet_.out_channels();
    m.backbone_strides_ = m.hgnet_.out_strides();
  } else {
    fail(StatusCode::unsupported,
         "config.json: backbone_config must be an rt_detr_resnet (ResNet-vd) or hgnet_v2 (HGNetV2) configuration");
  }
  const size_t levels = c.encoder_in_channels.size();
  if (m.backbone_channels_.size() != levels)
    fail(StatusCode::corrupt_file, "config.json: the backbone gives ", m.backbone_channels_.size(),
         " maps, encoder_in_channels lists ", levels);
  const int64_t D = c.d_model, E = c.encoder_hidden_dim;
  const int64_t hidden = static_cast<int64_t>(double(E) * c.hidden_expansion);  // int() of the product, as Python
  if (hidden < 1) fail(StatusCode::corrupt_file, "config.json: hidden_expansion leaves the CSP blocks no channels");
  auto conv_norm = [&](const std::string& p, int64_t co, int64_t ci, int k, int stride) {
    return read_conv_bn(n, p + ".conv.weight", p + ".norm", co, ci, k, stride, 1, c.batch_norm_eps);
  };
  for (size_t l = 0; l < levels; ++l) {
    const std::string p = "model.encoder_input_proj." + std::to_string(l);
    // nn.BatchNorm2d's own eps here, not the config's.
    m.encoder_proj_.push_back(read_conv_bn(n, p + ".0.weight", p + ".1", E, m.backbone_channels_[l], 1, 1, 1, 1e-5));
  }
  auto norm = [&](const std::string& p, int64_t width) { return read_norm(n, p, width); };
  auto self_attention = [&](const std::string& p, int64_t width) { return read_self_attention(n, p, width); };
  for (size_t i = 0; i < c.encode_proj_layers.size(); ++i) {
    std::vector<EncoderLayer> layers;
    for (int j = 0; j < c.encoder_layers; ++j) {
      const std::string p = "model.encoder.encoder." + std::to_string(i) + ".layers." + std::to_string(j) + ".";
      EncoderLayer L;
      L.attn = self_attention(p + "self_attn.", E);
      L.ln1 = norm(p + "self_attn_layer_norm", E);
      L.fc1 = read_linear(n, p + "fc1", c.encoder_ffn, E, p + "mlp.fc1");
      L.fc2 = read_linear(n, p + "fc2", E, c.encoder_ffn, p + "mlp.fc2");
      L.ln2 = norm(p + "final_layer_norm", E);
      layers.push_back(L);
    }
    m.aifi_.push_back(std::move(layers));
  }
  if (c.dfine()) {
    m.load_dfine(n);
  } else {
    for (size_t i = 0; i + 1 < levels; ++i) {
      const std::string s = std::to_string(i);
      // RTDetrCSPRepLayer's fixed three bottlenecks.
      auto csp = [&](const std::string& p) { return read_csp(n, p, 2 * E, hidden, E, 3, c.batch_norm_eps); };
      m.lateral_.push_back(conv_norm("model.encoder.lateral_convs." + s, E, E, 1, 1));
      m.fpn_.push_back(csp("model.encoder.fpn_blocks." + s));
      m.downsample_.push_back(conv_norm("model.encoder.downsample_convs." + s, E, E, 3, 2));
      m.pan_.push_back(csp("model.encoder.pan_blocks." + s));
    }
    int64_t in = E;
    for (int l = 0; l < c.num_feature_levels; ++l) {
      const std::string p = "model.decoder_input_proj." + std::to_string(l);
      const bool extra = l >= static_cast<int>(levels);  // a 3x3, stride-2 level below the encoder's
      m.decoder_proj_.push_back(read_conv_bn(n, p + ".0.weight", p + ".1", D, in, extra ? 3 : 1, extra ? 2 : 1, 1,
                                             c.batch_norm_eps));
      if (extra) in = D;
    }
  }
  m.enc_output_ = read_linear(n, "model.enc_output.0", D, D);
  m.enc_norm_ = norm("model.enc_output.1", D);
  const int64_t L = static_cast<int64_t>(c.labels.size());
  m.enc_score_ = read_linear(n, "model.enc_score_head", L, D);
  for (int i = 0; i < 3; ++i)
    m.enc_box_[i] = read_linear(n, "model.enc_bbox_head.layers." + std::to_string(i), i == 2 ? 4 : D, D);
  m.query_pos_[0] = read_linear(n, "model.decoder.query_pos_head.layers.0", 2 * D, 4);
  m.query_pos_[1] = read_linear(n, "model.decoder.query_pos_head.layers.1", D, 2 * D);
  if (c.learn_initial_query) m.initial_query_ = n.weight("model.weight_embedding.weight", {c.num_queries, D});
  const int64_t points = int64_t(c.decoder_heads) * c.num_feature_levels * c.decoder_points;
  for (int i = 0; i < (c.dfine() ? 0 : c.decoder_layers); ++i) {
    const std::string p = "model.decoder.layers." + std::to_string(i) + ".";
    DecoderLayer Ld;
    Ld.self_attn = self_attention(p + "self_attn.", D);
    Ld.ln1 = norm(p + "self_attn_layer_norm", D);
    Ld.offsets = read_linear(n, p + "encoder_attn.sampling_offsets", points * 2, D);
    Ld.attn_weights = read_linear(n, p + "encoder_attn.attention_weights", points, D);
    Ld.value = read_linear(n, p + "encoder_attn.value_proj", D, D);
    if (version == 2) check_points_scale(n, p + "encoder_attn.n_points_scale", c.level_points);
    Ld.output = read_linear(n, p + "encoder_attn.output_proj", D, D);
    Ld.ln2 = norm(p + "encoder_attn_layer_norm", D);
    Ld.fc1 = read_linear(n, p + "fc1", c.decoder_ffn, D, p + "mlp.fc1");
    Ld.fc2 = read_linear(n, p + "fc2", D, c.decoder_ffn, p + "mlp.fc2");
    Ld.ln3 = norm(p + "final_layer_norm", D);
    // Every layer's box head refines the boxes; only the last class head's
    // scores come out (the others train the intermediate layers).
    const std::string s = std::to_string(i);
    for (int k = 0; k < 3; ++k)
      Ld.box[k] = read_linear(n, "model.decoder.bbox_embed." + s + ".layers." + std::to_string(k), k == 2 ? 4 : D, D);
    Ld.cls = read_linear(n, "model.decoder.class_embed." + s, L, D);
    m.decoder_.push_back(Ld);
  }
  m.num_parameters_ = n.parameters();
  // class_embed / bbox_embed at the top level are the decoder's own, tied;
  // the denoising embedding serves training only.
  refuse_unused(folder, n.used(), {"class_embed.", "bbox_embed.", "model.denoising_class_embed."},
                [&](const std::string& name) {
                  if (name.rfind("model.decoder.layers.", 0) == 0) return "decoder_layers " + std::to_string(c.decoder_layers);
                  if (name.rfind("model.encoder.encoder.", 0) == 0) return "encoder_layers " + std::to_string(c.encoder_layers);
                  if (name.rfind("model.backbone.", 0) == 0) return std::string("the backbone's depths");
                  return std::string();
                });
  m.table_ = std::move(table);
  return m;
}

}  // namespace visionrt::models
