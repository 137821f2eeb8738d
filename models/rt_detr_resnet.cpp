#include "models/rt_detr_resnet.hpp"

#include "core/error.hpp"
#include "io/model_folder.hpp"

namespace visionrt::models {
namespace {

constexpr double kBnEps = 1e-5;  // nn.BatchNorm2d's, and the frozen norm's

}  // namespace

const std::vector<ConfigKey>& rt_detr_resnet_config_keys() {
  using U = KeyUse;
  static const std::vector<ConfigKey> keys = {
      {"model_type", U::honoured}, {"num_channels", U::honoured}, {"embedding_size", U::honoured},
      {"hidden_sizes", U::honoured}, {"depths", U::honoured}, {"layer_type", U::honoured},
      {"hidden_act", U::honoured}, {"downsample_in_first_stage", U::honoured},
      {"downsample_in_bottleneck", U::honoured}, {"out_features", U::honoured}, {"out_indices", U::honoured},
      {"stage_names", U::no_effect},
      // Bookkeeping, output format.
      {"id2label", U::no_effect}, {"label2id", U::no_effect}, {"num_labels", U::no_effect},
      {"architectures", U::no_effect}, {"dtype", U::no_effect}, {"torch_dtype", U::no_effect},
      {"output_hidden_states", U::no_effect}, {"output_attentions", U::no_effect}, {"return_dict", U::no_effect},
      {"torchscript", U::no_effect}, {"chunk_size_feed_forward", U::no_effect}, {"is_encoder_decoder", U::no_effect},
      {"problem_type", U::no_effect}, {"_name_or_path", U::no_effect}, {"transformers_version", U::no_effect},
  };
  return keys;
}

RtDetrResnet RtDetrResnet::load(const nlohmann::json& bb, CheckpointReader& reader, const std::string& prefix) {
  refuse_unimplemented_keys(bb, "backbone_config", rt_detr_resnet_config_keys());
  RtDetrResnet r;
  r.act_ = backbone_hidden_act(bb);
  const std::string layer_type = config_name(bb, "backbone_config", "layer_type", "bottleneck");
  if (layer_type != "bottleneck" && layer_type != "basic")
    fail(StatusCode::unsupported, "config.json: key 'backbone_config.layer_type' is '", layer_type,
         "' (supported: basic, bottleneck)");
  const bool bottleneck = layer_type == "bottleneck";
  const bool down_first = io::config_bool(bb, "downsample_in_first_stage", false);
  const bool down_in_bottleneck = io::config_bool(bb, "downsample_in_bottleneck", false);
  const int64_t channels = config_int_in(bb, "backbone_config", "num_channels", 3, 1, kMaxChannels);
  const int64_t emb = config_int_in(bb, "backbone_config", "embedding_size", 64, 2, kMaxWidth);
  const std::vector<int> depths = config_ints_in(bb, "backbone_config", "depths", {3, 4, 6, 3}, 4, 1, kMaxLayers);
  const std::vector<int> widths = config_ints_in(bb, "backbone_config", "hidden_sizes", {256, 512, 1024, 2048}, 4,
                                                 bottleneck ? 4 : 1, kMaxWidth);
  r.outputs_ = backbone_output_stages(bb, 4, {2, 3, 4});

  auto conv = [&](const std::string& p, int64_t co, int64_t ci, int k, int stride) {
    return read_conv_bn(reader, prefix + p + ".convolution.weight", prefix + p + ".normalization", co, ci, k, stride,
                        1, kBnEps);
  };
  r.stem_ = {conv("embedder.embedder.0", emb / 2, channels, 3, 2), conv("embedder.embedder.1", emb / 2, emb / 2, 3, 1),
             conv("embedder.embedder.2", emb, emb / 2, 3, 1)};
  int64_t in = emb;
  int stride_so_far = 4;
  for (int s = 0; s < 4; ++s) {
    const int64_t out = widths[s];
    const int stage_stride = s > 0 || down_first ? 2 : 1;
    stride_so_far *= stage_stride;
    std::vector<Block> blocks;
    for (int b = 0; b < depths[s]; ++b) {
      const std::string p = "encoder.stages." + std::to_string(s) + ".layers." + std::to_string(b) + ".";
      const int st = b == 0 ? stage_stride : 1;
      Block blk;
      if (bottleneck) {
        const int64_t red = out / 4;
        blk.convs = {conv(p + "layer.0", red, in, 1, down_in_bottleneck ? st : 1),
                     conv(p + "layer.1", red, red, 3, down_in_bottleneck ? 1 : st), conv(p + "layer.2", out, red, 1, 1)};
        blk.pool_shortcut = st == 2;
        blk.has_shortcut_conv = in != out || st != 1;
      } else {
        blk.convs = {conv(p + "layer.0", out, in, 3, st), conv(p + "layer.1", out, out, 3, 1)};
        // The first block of a stage always has a shortcut conv; with new
        // widths it pools first (whatever the stride), else it strides.
        blk.pool_shortcut = b == 0 && in != out;
        blk.has_shortcut_conv = b == 0;
        if (b == 0 && in != out && st != 2)
          fail(StatusCode::unsupported, "config.json: a basic first stage that widens (", in, " to ", out,
               ") without downsample_in_first_stage is not implemented");
      }
      if (blk.has_shortcut_conv)
        blk.shortcut = conv(p + (blk.pool_shortcut ? "shortcut.1" : "shortcut"), out, in, 1,
                            blk.pool_shortcut ? 1 : st);
      blocks.push_back(std::move(blk));
      in = out;
    }
    r.stages_.push_back(std::move(blocks));
    for (int o : r.outputs_)
      if (o == s) {
        r.out_channels_.push_back(out);
        r.out_strides_.push_back(stride_so_far);
      }
  }
  return r;
}

std::vector<int> RtDetrResnet::build(graph::Graph& g, int pixels) const {
  using graph::Op;
  int h = g.add(Op::nchw_to_nhwc, {pixels});
  for (const FoldedConv& c : stem_) h = add_folded_conv(g, h, c, act_);
  graph::Attrs pool;
  pool.kernel = 3;
  pool.stride = 2;
  pool.pad = 1;
  h = g.add(Op::max_pool, {h}, pool);
  graph::Attrs act;
  act.epilogue.act = act_;
  graph::Attrs avg;
  avg.kernel = 2;
  avg.stride = 2;
  std::vector<int> maps;
  for (size_t s = 0; s < stages_.size(); ++s) {
    for (const Block& b : stages_[s]) {
      int identity = b.pool_shortcut ? g.add(Op::avg_pool, {h}, avg) : h;
      if (b.has_shortcut_conv) identity = add_folded_conv(g, identity, b.shortcut, Activation::none);
      int t = h;
      // The inner convolutions' ReLU is fixed; the block's last activation is hidden_act.
      for (size_t i = 0; i + 1 < b.convs.size(); ++i) t = add_folded_conv(g, t, b.convs[i], Activation::relu);
      t = g.add(Op::add, {add_folded_conv(g, t, b.convs.back(), Activation::none), identity});
      h = g.add(Op::activation, {t}, act);
    }
    for (int o : outputs_)
      if (o == static_cast<int>(s)) maps.push_back(h);
  }
  return maps;
}

}  // namespace visionrt::models
