// D-FINE's own parts of the RT-DETR family's weights: the encoder's
// RepNCSPELAN4 fusion blocks and SCDown downsampling, and the decoder's
// gated layers, distribution box heads and quality estimator.
#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "models/rt_detr.hpp"

namespace visionrt::models {

void RtDetrModel::load_dfine(CheckpointReader& n) {
  const RtDetrConfig& c = cfg_;
  const int64_t D = c.d_model, E = c.encoder_hidden_dim, L = static_cast<int64_t>(c.labels.size());
  const double eps = c.batch_norm_eps;
  // Python's round(3 * depth_mult) (half to even) and
  // round(hidden_expansion * E // 2), as DFineHybridEncoder sizes them.
  const int blocks = static_cast<int>(std::nearbyint(3 * c.depth_mult));
  const int64_t c4 = static_cast<int64_t>(std::nearbyint(std::floor(c.hidden_expansion * double(E) / 2)));
  if (blocks < 0 || c4 < 1)
    fail(StatusCode::corrupt_file, "config.json: depth_mult and hidden_expansion leave the fusion blocks no ",
         blocks < 0 ? "bottlenecks" : "channels");
  auto conv = [&](const std::string& p, int64_t co, int64_t ci, int k, int stride, bool depthwise = false) {
    FoldedConv f = read_conv_bn(n, p + ".conv.weight", p + ".norm", co, depthwise ? 1 : ci, k, stride, 1, eps);
    if (depthwise) f.groups = static_cast<int>(co);
    return f;
  };
  auto elan_block = [&](const std::string& p) {
    ElanBlock b;
    b.conv1 = conv(p + ".conv1", 2 * E, 2 * E, 1, 1);
    b.csp1 = read_csp(n, p + ".csp_rep1", E, c4, c4, blocks, eps);
    b.conv2 = conv(p + ".conv2", c4, c4, 3, 1);
    b.csp2 = read_csp(n, p + ".csp_rep2", c4, c4, c4, blocks, eps);
    b.conv3 = conv(p + ".conv3", c4, c4, 3, 1);
    b.conv4 = conv(p + ".conv4", E, 2 * E + 2 * c4, 1, 1);
    return b;
  };
  const size_t levels = c.encoder_in_channels.size();
  for (size_t i = 0; i + 1 < levels; ++i) {
    const std::string s = std::to_string(i);
    lateral_.push_back(conv("model.encoder.lateral_convs." + s, E, E, 1, 1));
    fpn_elan_.push_back(elan_block("model.encoder.fpn_blocks." + s));
    const std::string d = "model.encoder.downsample_convs." + s;
    scdown_.push_back({conv(d + ".conv1", E, E, 1, 1), conv(d + ".conv2", E, E, 3, 2, true)});
    pan_elan_.push_back(elan_block("model.encoder.pan_blocks." + s));
  }
  // DFineModel's decoder_input_proj: identities when d_model is the
  // encoder's width, else 1x1 convolutions (3x3 strided for the extra
  // levels), each reading the encoder's map of its level or, for the extra
  // levels, its deepest map.
  const int64_t in = c.decoder_in_channels.back();
  for (int l = 0; l < c.num_feature_levels; ++l) {
    if (D == in) {
      decoder_proj_.push_back(FoldedConv{});
      continue;
    }
    const std::string p = "model.decoder_input_proj." + std::to_string(l);
    const bool extra = l >= static_cast<int>(levels);
    decoder_proj_.push_back(read_conv_bn(n, p + ".0.weight", p + ".1", D, in, extra ? 3 : 1, extra ? 2 : 1, 1, eps));
  }

  int64_t points = 0;
  for (int p : c.level_points) points += p;
  points *= c.decoder_heads;
  const int64_t corners = 4 * (int64_t(c.max_num_bins) + 1);
  auto mlp_layers = [&](const std::string& p, int count, int64_t in_w, int64_t hidden_w, int64_t out_w) {
    std::vector<Linear> layers;
    for (int k = 0; k < count; ++k)
      layers.push_back(read_linear(n, p + ".layers." + std::to_string(k), k + 1 == count ? out_w : hidden_w,
                                   k == 0 ? in_w : hidden_w));
    return layers;
  };
  for (int i = 0; i < c.decoder_layers; ++i) {
    const std::string s = std::to_string(i), p = "model.decoder.layers." + s + ".";
    DecoderLayer Ld;
    Ld.self_attn = read_self_attention(n, p + "self_attn.", D);
    Ld.ln1 = read_norm(n, p + "self_attn_layer_norm", D);
    Ld.offsets = read_linear(n, p + "encoder_attn.sampling_offsets", points * 2, D);
    Ld.attn_weights = read_linear(n, p + "encoder_attn.attention_weights", points, D);
    check_points_scale(n, p + "encoder_attn.num_points_scale", c.level_points);
    Ld.gate = read_linear(n, p + "gateway.gate", 2 * D, 2 * D);
    Ld.ln2 = read_norm(n, p + "gateway.norm", D);
    Ld.fc1 = read_linear(n, p + "fc1", c.decoder_ffn, D, p + "mlp.layers.0");
    Ld.fc2 = read_linear(n, p + "fc2", D, c.decoder_ffn, p + "mlp.layers.1");
    Ld.ln3 = read_norm(n, p + "final_layer_norm", D);
    const std::vector<Linear> box = mlp_layers("model.decoder.bbox_embed." + s, 3, D, D, corners);
    std::copy(box.begin(), box.end(), Ld.box);
    // Only the last layer's scores come out; the others train the
    // intermediate layers, as do all but the last quality estimator.
    Ld.cls = read_linear(n, "model.decoder.class_embed." + s, L, D);
    const std::vector<Linear> lqe = mlp_layers("model.decoder.lqe_layers." + s + ".reg_conf", c.lqe_layers,
                                               4 * (int64_t(c.top_prob_values) + 1), c.lqe_hidden_dim, 1);
    if (i + 1 == c.decoder_layers) {
      lqe_ = lqe;
      // The estimator's one output is added to every class's score: its
      // last layer repeated once per class gives that sum as a plain add.
      const std::string q = "model.decoder.lqe_layers." + s + ".reg_conf.layers." + std::to_string(c.lqe_layers - 1);
      const int64_t hid = c.lqe_layers == 1 ? 4 * (int64_t(c.top_prob_values) + 1) : c.lqe_hidden_dim;
      auto per_class = [&](const std::string& name, Shape one) {
        const Tensor t = n.tensor(name, one);
        Shape shape = one;
        shape[0] = L;
        return n.derived(name + " (per class)", shape, DType::f32, [t, shape] {
          const Tensor row = to_f32(t);
          Tensor out = Tensor::empty(DType::f32, shape);
          for (int64_t r = 0; r < shape[0]; ++r)
            std::copy(row.f32(), row.f32() + row.numel(), out.f32() + r * row.numel());
          return out;
        });
      };
      lqe_.back() = {per_class(q + ".weight", {1, hid}), per_class(q + ".bias", {1})};
    }
    decoder_.push_back(Ld);
  }
  pre_box_ = mlp_layers("model.decoder.pre_bbox_head", 3, D, D, 4);
  // The weighting function's parameters are the checkpoint's; a config
  // that says otherwise describes another model.
  auto scalar = [&](const char* name, double configured) {
    const float v = to_f32(n.tensor(std::string("model.decoder.") + name, {1})).f32()[0];
    if (!std::isfinite(v) || std::fabs(double(v) - configured) > 1e-6 * std::max(1.0, std::fabs(configured)))
      fail(StatusCode::corrupt_file, "model.decoder.", name, " holds ", v, " where config.json's '", name, "' is ",
           configured);
    return v;
  };
  reg_scale_ = scalar("reg_scale", c.reg_scale);
  up_ = scalar("up", c.up);
  if (reg_scale_ == 0.f) fail(StatusCode::corrupt_file, "config.json: reg_scale must not be 0");
}

}  // namespace visionrt::models
