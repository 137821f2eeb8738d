#include "models/hgnet_v2.hpp"

#include "core/error.hpp"
#include "core/json_text.hpp"
#include "io/model_folder.hpp"

namespace visionrt::models {
namespace {

constexpr double kBnEps = 1e-5;  // nn.BatchNorm2d's, and the frozen norm's
constexpr const char* kWhere = "backbone_config";

// A list of `count` JSON booleans, `fallback` when absent.
std::vector<bool> config_bools(const nlohmann::json& bb, const char* key, const std::vector<bool>& fallback,
                               size_t count) {
  const auto it = bb.find(key);
  if (it == bb.end() || it->is_null()) {
    if (fallback.size() != count)
      fail(StatusCode::corrupt_file, "config.json: 'backbone_config.", key, "' is needed for ", count, " stages");
    return fallback;
  }
  if (!it->is_array() || it->size() != count)
    fail(StatusCode::corrupt_file, "config.json: 'backbone_config.", key, "' must list ", count, " booleans");
  std::vector<bool> out;
  for (const auto& v : *it) {
    if (!v.is_boolean())
      fail(StatusCode::corrupt_file, "config.json: 'backbone_config.", key, "' holds ", io::describe_json(v),
           ", not a boolean");
    out.push_back(v.get<bool>());
  }
  return out;
}

size_t list_size(const nlohmann::json& bb, const char* key, size_t fallback) {
  const auto it = bb.find(key);
  return it != bb.end() && it->is_array() ? it->size() : fallback;
}

}  // namespace

const std::vector<ConfigKey>& hgnet_v2_config_keys() {
  using U = KeyUse;
  static const std::vector<ConfigKey> keys = {
      {"model_type", U::honoured}, {"num_channels", U::honoured}, {"hidden_act", U::honoured},
      {"stem_channels", U::honoured}, {"stem_strides", U::honoured}, {"stage_in_channels", U::honoured},
      {"stage_mid_channels", U::honoured}, {"stage_out_channels", U::honoured}, {"stage_num_blocks", U::honoured},
      {"stage_downsample", U::honoured}, {"stage_downsample_strides", U::honoured},
      {"stage_light_block", U::honoured}, {"stage_kernel_size", U::honoured}, {"stage_numb_of_layers", U::honoured},
      {"use_learnable_affine_block", U::honoured}, {"out_features", U::honoured}, {"out_indices", U::honoured},
      // The maps' widths the detector is told: checked against the stages'.
      {"hidden_sizes", U::honoured},
      // Read only by the image classifier and for bookkeeping.
      {"embedding_size", U::no_effect}, {"depths", U::no_effect}, {"stage_names", U::no_effect},
      {"initializer_range", U::no_effect}, {"drop_path_rate", U::no_effect},
      {"id2label", U::no_effect}, {"label2id", U::no_effect}, {"num_labels", U::no_effect},
      {"architectures", U::no_effect}, {"dtype", U::no_effect}, {"torch_dtype", U::no_effect},
      {"output_hidden_states", U::no_effect}, {"output_attentions", U::no_effect}, {"return_dict", U::no_effect},
      {"torchscript", U::no_effect}, {"chunk_size_feed_forward", U::no_effect}, {"is_encoder_decoder", U::no_effect},
      {"problem_type", U::no_effect}, {"_name_or_path", U::no_effect}, {"transformers_version", U::no_effect},
  };
  return keys;
}

HgnetV2 HgnetV2::load(const nlohmann::json& bb, CheckpointReader& reader, const std::string& prefix) {
  refuse_unimplemented_keys(bb, kWhere, hgnet_v2_config_keys());
  HgnetV2 r;
  const Activation stem_act = backbone_hidden_act(bb);
  const bool lab = io::config_bool(bb, "use_learnable_affine_block", false);
  const int channels = config_int_in(bb, kWhere, "num_channels", 3, 1, kMaxChannels);
  const std::vector<int> stem = config_ints_in(bb, kWhere, "stem_channels", {3, 32, 48}, 3, 1, kMaxWidth);
  const std::vector<int> stem_strides = config_ints_in(bb, kWhere, "stem_strides", {2, 1, 1, 2, 1}, 5, 1, 64);
  if (stem[0] != channels)
    fail(StatusCode::corrupt_file, "config.json: backbone_config.stem_channels[0] (", stem[0],
         ") must equal num_channels (", channels, ")");
  if (stem[1] < 2) fail(StatusCode::corrupt_file, "config.json: backbone_config.stem_channels[1] must be at least 2");
  const size_t n = list_size(bb, "stage_in_channels", 4);
  if (n < 1 || n > 8) fail(StatusCode::unsupported, "config.json: the backbone lists ", n, " stages (1 to 8)");
  auto ints = [&](const char* key, std::vector<int> fallback, int lo, int hi) {
    return config_ints_in(bb, kWhere, key, fallback, n, lo, hi);
  };
  const std::vector<int> in_ch = ints("stage_in_channels", {48, 128, 512, 1024}, 1, kMaxWidth),
                         mid = ints("stage_mid_channels", {48, 96, 192, 384}, 1, kMaxWidth),
                         out_ch = ints("stage_out_channels", {128, 512, 1024, 2048}, 2, kMaxWidth),
                         blocks = ints("stage_num_blocks", {1, 1, 3, 1}, 1, kMaxLayers),
                         down_strides = ints("stage_downsample_strides", {2, 2, 2, 2}, 1, 64),
                         kernels = ints("stage_kernel_size", {3, 3, 5, 5}, 1, 15),
                         layers = ints("stage_numb_of_layers", {6, 6, 6, 6}, 1, kMaxLayers);
  const std::vector<bool> down = config_bools(bb, "stage_downsample", {false, true, true, true}, n),
                          light = config_bools(bb, "stage_light_block", {false, false, true, true}, n);
  r.outputs_ = backbone_output_stages(bb, static_cast<int>(n), {static_cast<int>(n)});

  // A convolution as HGNetV2ConvLayer builds it: padding (k - 1) / 2.
  auto conv = [&](const std::string& p, int64_t co, int64_t ci, int k, int stride, bool depthwise, Activation act) {
    Layer l;
    l.conv = read_conv_bn(reader, prefix + p + ".convolution.weight", prefix + p + ".normalization", co,
                          depthwise ? 1 : ci, k, stride, 1, kBnEps);
    l.conv.pad = (k - 1) / 2;
    if (depthwise) l.conv.groups = static_cast<int>(co);
    l.act = act;
    if (lab && act != Activation::none) {
      l.scale = to_f32(reader.tensor(prefix + p + ".lab.scale", {1})).f32()[0];
      l.shift = to_f32(reader.tensor(prefix + p + ".lab.bias", {1})).f32()[0];
    }
    return l;
  };
  r.stem1_ = conv("embedder.stem1", stem[1], stem[0], 3, stem_strides[0], false, stem_act);
  r.stem2a_ = conv("embedder.stem2a", stem[1] / 2, stem[1], 2, stem_strides[1], false, stem_act);
  r.stem2b_ = conv("embedder.stem2b", stem[1], stem[1] / 2, 2, stem_strides[2], false, stem_act);
  r.stem3_ = conv("embedder.stem3", stem[1], int64_t(stem[1]) * 2, 3, stem_strides[3], false, stem_act);
  r.stem4_ = conv("embedder.stem4", stem[2], stem[1], 1, stem_strides[4], false, stem_act);
  int stride = stem_strides[0] * stem_strides[3] * stem_strides[4];
  int64_t width = stem[2];
  // The classifier's widths, which DFineConvEncoder hands the detector as the maps' channels.
  const std::vector<int> hidden = config_ints_in(bb, kWhere, "hidden_sizes", out_ch, n, 1, kMaxWidth);
  for (size_t s = 0; s < n; ++s) {
    if (in_ch[s] != width)
      fail(StatusCode::corrupt_file, "config.json: backbone_config.stage_in_channels[", s, "] is ", in_ch[s],
           " where the previous stage gives ", width);
    const std::string p = "encoder.stages." + std::to_string(s);
    Stage st;
    st.has_downsample = down[s];
    if (down[s]) {
      st.downsample = conv(p + ".downsample", in_ch[s], in_ch[s], 3, down_strides[s], true, Activation::none);
      stride *= down_strides[s];
    }
    // HGNetV2BasicLayer's convolutions end in a fixed ReLU; hidden_act is the stem's.
    for (int b = 0; b < blocks[s]; ++b) {
      const std::string q = p + ".blocks." + std::to_string(b);
      const int64_t block_in = b == 0 ? in_ch[s] : out_ch[s];
      Block blk;
      blk.residual = b != 0;
      for (int i = 0; i < layers[s]; ++i) {
        const std::string l = q + ".layers." + std::to_string(i);
        const int64_t ci = i == 0 ? block_in : mid[s];
        if (light[s])
          blk.chain.push_back({conv(l + ".conv1", mid[s], ci, 1, 1, false, Activation::none),
                               conv(l + ".conv2", mid[s], mid[s], kernels[s], 1, true, Activation::relu)});
        else
          blk.chain.push_back({conv(l, mid[s], ci, kernels[s], 1, false, Activation::relu)});
      }
      const int64_t total = block_in + int64_t(layers[s]) * mid[s];
      blk.squeeze = conv(q + ".aggregation.0", out_ch[s] / 2, total, 1, 1, false, Activation::relu);
      blk.excite = conv(q + ".aggregation.1", out_ch[s], out_ch[s] / 2, 1, 1, false, Activation::relu);
      st.blocks.push_back(std::move(blk));
    }
    width = out_ch[s];
    r.stages_.push_back(std::move(st));
    for (int o : r.outputs_)
      if (o == static_cast<int>(s)) {
        if (hidden[s] != out_ch[s])
          fail(StatusCode::corrupt_file, "config.json: backbone_config.hidden_sizes[", s, "] (", hidden[s],
               ") differs from stage_out_channels[", s, "] (", out_ch[s], "), the map's width");
        r.out_channels_.push_back(out_ch[s]);
        r.out_strides_.push_back(stride);
      }
  }
  return r;
}

int HgnetV2::layer(graph::Graph& g, int x, const Layer& l) const {
  x = add_folded_conv(g, x, l.conv, l.act);
  if (l.scale == 1.f && l.shift == 0.f) return x;
  graph::Attrs a;
  a.scale = l.scale;
  a.shift = l.shift;
  return g.add(graph::Op::affine, {x}, a);
}

std::vector<int> HgnetV2::build(graph::Graph& g, int pixels) const {
  using graph::Op;
  graph::Attrs pad, pool, join;
  pad.pad_end = 1;  // F.pad(x, (0, 1, 0, 1))
  pool.kernel = 2;
  pool.stride = 1;
  join.axis = 3;
  const int stem = layer(g, g.add(Op::nchw_to_nhwc, {pixels}), stem1_);
  const int padded = g.add(Op::pad_spatial, {stem}, pad);
  int branch = layer(g, padded, stem2a_);
  branch = layer(g, g.add(Op::pad_spatial, {branch}, pad), stem2b_);
  // MaxPool2d(2, 1, ceil_mode=True) at stride 1 has no partial window.
  int h = g.add(Op::concat, {g.add(Op::max_pool, {padded}, pool), branch}, join);
  h = layer(g, layer(g, h, stem3_), stem4_);
  std::vector<int> maps;
  for (size_t s = 0; s < stages_.size(); ++s) {
    const Stage& st = stages_[s];
    if (st.has_downsample) h = layer(g, h, st.downsample);
    for (const Block& b : st.blocks) {
      int t = h, joined = h;
      for (const std::vector<Layer>& link : b.chain) {
        for (const Layer& l : link) t = layer(g, t, l);
        joined = g.add(Op::concat, {joined, t}, join);
      }
      t = layer(g, layer(g, joined, b.squeeze), b.excite);
      h = b.residual ? g.add(Op::add, {t, h}) : t;
    }
    for (int o : outputs_)
      if (o == static_cast<int>(s)) maps.push_back(h);
  }
  return maps;
}

}  // namespace visionrt::models
