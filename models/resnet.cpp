#include "models/resnet.hpp"

#include "core/error.hpp"
#include "core/json_text.hpp"
#include "io/model_folder.hpp"

namespace visionrt::models {
namespace {

// BatchNorm eps of DETR's frozen batch norm.
constexpr double kBnEps = 1e-5;

struct Arch {
  const char* name;
  int depths[4];
  bool bottleneck;
};
constexpr Arch kArchs[] = {{"resnet18", {2, 2, 2, 2}, false},
                           {"resnet34", {3, 4, 6, 3}, false},
                           {"resnet50", {3, 4, 6, 3}, true},
                           {"resnet101", {3, 4, 23, 3}, true}};

const Arch& find_arch(const std::string& name) {
  for (const Arch& a : kArchs)
    if (name == a.name) return a;
  fail(StatusCode::unsupported, "backbone '", name,
       "' is not supported (supported: resnet18, resnet34, resnet50, resnet101)");
}

// The checkpoint reader under the backbone's tensor prefix.
class Loader {
 public:
  Loader(CheckpointReader& reader, std::string prefix) : reader_(reader), prefix_(std::move(prefix)) {}

  // Conv `conv_name` [Co,Ci,k,k] and BatchNorm `bn_name`, folded.
  FoldedConv conv(const std::string& conv_name, const std::string& bn_name, int64_t co, int64_t ci,
                  int k, int stride, int dilation) {
    return read_conv_bn(reader_, prefix_ + conv_name + ".weight", prefix_ + bn_name, co, ci, k, stride, dilation,
                        kBnEps);
  }

  bool has(const std::string& name) const { return reader_.has(prefix_ + name); }
  // Output channels of a stored conv weight, to follow custom widths.
  int64_t out_channels(const std::string& conv_name) const {
    return reader_.header(prefix_ + conv_name + ".weight").dim(0);
  }

 private:
  CheckpointReader& reader_;
  std::string prefix_;
};

const nlohmann::json* backbone_config(const nlohmann::json& c) {
  const auto it = c.find("backbone_config");
  return it != c.end() && it->is_object() ? &*it : nullptr;
}

// Conv + BN pairs named "<p>.convolution" / "<p>.normalization" (transformers).
FoldedConv hf_conv(Loader& L, const std::string& p, int64_t co, int64_t ci, int k, int stride) {
  return L.conv(p + ".convolution", p + ".normalization", co, ci, k, stride, 1);
}

// An output stride other than 32 dilates the last stage (16) or more (8,
// which visionrt does not implement). Returns whether it is 16.
bool dilating_output_stride(const nlohmann::json& object, const std::string& where) {
  const int stride = config_int_in(object, where, "output_stride", 32, 1, 1024);
  if (stride != 16 && stride != 32)
    fail(StatusCode::unsupported, "config.json: key '", where, ".output_stride' is ", stride,
         "; visionrt implements 32 and 16 (a dilated last stage)");
  return stride == 16;
}

// DETR reads the backbone's last feature map: out_indices (or out_features)
// naming another as the last would change the model.
void check_last_feature_map(const nlohmann::json& object, const std::string& where) {
  for (const char* key : {"out_indices", "out_features"}) {
    const auto it = object.find(key);
    if (it == object.end() || it->is_null()) continue;
    const nlohmann::json last = it->is_array() && !it->empty() ? it->back() : nlohmann::json();
    // transformers names the last stage "stage4", timm "layer4".
    if (last != nlohmann::json(4) && last != nlohmann::json(-1) && last != nlohmann::json("stage4") &&
        last != nlohmann::json("layer4"))
      fail(StatusCode::unsupported, "config.json: key '", where, ".", key, "' is ", io::describe_json(*it),
           "; visionrt implements a backbone whose last output is its last stage (4, -1, stage4 or layer4)");
  }
}

// timm's create_model arguments (backbone_kwargs): those DETR's builder
// passes on, each honoured or refused; any other would change the model.
void check_backbone_kwargs(const nlohmann::json& config, bool* dilated, int64_t* in_channels) {
  const auto it = config.find("backbone_kwargs");
  if (it == config.end() || it->is_null()) return;
  if (!it->is_object()) fail(StatusCode::corrupt_file, "config.json: key 'backbone_kwargs' must be an object");
  for (auto k = it->begin(); k != it->end(); ++k) {
    if (k.key() == "out_indices") continue;  // checked below
    if (k.key() == "in_chans") *in_channels = config_int_in(*it, "backbone_kwargs", "in_chans", 3, 1, kMaxChannels);
    else if (k.key() == "output_stride") *dilated = dilating_output_stride(*it, "backbone_kwargs") || *dilated;
    else
      fail(StatusCode::unsupported, "config.json: key 'backbone_kwargs.", k.key(),
           "' is not implemented by visionrt (implemented: out_indices, in_chans, output_stride)");
  }
  check_last_feature_map(*it, "backbone_kwargs");
}

}  // namespace

const std::vector<ConfigKey>& resnet_backbone_config_keys() {
  using U = KeyUse;
  static const std::vector<ConfigKey> keys = {
      // transformers' ResNetConfig (model_type "resnet").
      {"model_type", U::honoured}, {"num_channels", U::honoured}, {"embedding_size", U::honoured},
      {"hidden_sizes", U::honoured}, {"depths", U::honoured}, {"layer_type", U::honoured},
      {"downsample_in_first_stage", U::honoured}, {"downsample_in_bottleneck", U::honoured},
      {"out_features", U::honoured}, {"out_indices", U::honoured}, {"stage_names", U::no_effect},
      // Every activation of the backbone; only ReLU is implemented.
      {"hidden_act", U::default_only, "\"relu\""},
      // TimmBackboneConfig (model_type "timm_backbone").
      {"backbone", U::honoured}, {"output_stride", U::honoured}, {"features_only", U::no_effect},
      {"use_pretrained_backbone", U::no_effect}, {"freeze_batch_norm_2d", U::no_effect},
      // Bookkeeping, output format.
      {"id2label", U::no_effect}, {"label2id", U::no_effect}, {"num_labels", U::no_effect},
      {"architectures", U::no_effect}, {"dtype", U::no_effect}, {"torch_dtype", U::no_effect},
      {"output_hidden_states", U::no_effect}, {"output_attentions", U::no_effect}, {"return_dict", U::no_effect},
      {"torchscript", U::no_effect}, {"chunk_size_feed_forward", U::no_effect}, {"is_encoder_decoder", U::no_effect},
      {"problem_type", U::no_effect}, {"_name_or_path", U::no_effect}, {"transformers_version", U::no_effect},
  };
  return keys;
}

Resnet Resnet::load(const nlohmann::json& config, CheckpointReader& reader, const std::string& prefix) {
  Resnet r;
  Loader L(reader, prefix);
  const nlohmann::json* bb = backbone_config(config);
  const std::string bb_type = bb ? io::config_string(*bb, "model_type", "") : "";
  const bool timm = io::config_bool(config, "use_timm_backbone", bb_type.empty() || bb_type == "timm_backbone");
  if (bb) {
    refuse_unimplemented_keys(*bb, "backbone_config", resnet_backbone_config_keys());
    check_last_feature_map(*bb, "backbone_config");
  }
  r.dilated_ = io::config_bool(config, "dilation", false) || (bb && dilating_output_stride(*bb, "backbone_config"));
  int64_t in_channels = config_int_in(config, "", "num_channels", 3, 1, kMaxChannels);
  check_backbone_kwargs(config, &r.dilated_, &in_channels);
  if (timm) {
    // timm ResNet: the architecture name gives the block type and depths;
    // channel widths follow the stored weights (timm_model_kwargs may narrow them).
    std::string name = io::config_string(config, "backbone", "");
    if (name.empty() && bb) name = io::config_string(*bb, "backbone", "");
    const Arch& arch = find_arch(name.empty() ? "resnet50" : name);
    const int64_t stem = L.out_channels("conv1");
    r.stem_ = L.conv("conv1", "bn1", stem, in_channels, 7, 2, 1);
    int64_t inplanes = stem;
    int prev_dilation = 1;
    for (int s = 0; s < 4; ++s) {
      const std::string layer = "layer" + std::to_string(s + 1);
      int stride = s == 0 ? 1 : 2, dilation = 1;
      if (s == 3 && r.dilated_) {  // DC5: the last stage dilates instead of striding
        stride = 1;
        dilation = 2;
      }
      std::vector<ResnetBlock> blocks;
      for (int b = 0; b < arch.depths[s]; ++b) {
        const std::string p = layer + "." + std::to_string(b) + ".";
        if (!L.has(p + "conv1.weight"))
          fail(StatusCode::not_found, "missing tensor '", prefix, p, "conv1.weight' (", arch.name,
               " has ", arch.depths[s], " blocks in ", layer, ")");
        const int first_dilation = b == 0 ? prev_dilation : dilation;
        const int st = b == 0 ? stride : 1;
        ResnetBlock blk;
        const int64_t planes = L.out_channels(p + "conv1");
        if (arch.bottleneck) {
          const int64_t out = L.out_channels(p + "conv3");
          blk.convs.push_back(L.conv(p + "conv1", p + "bn1", planes, inplanes, 1, 1, 1));
          blk.convs.push_back(L.conv(p + "conv2", p + "bn2", planes, planes, 3, st, first_dilation));
          blk.convs.push_back(L.conv(p + "conv3", p + "bn3", out, planes, 1, 1, 1));
          blk.has_shortcut = L.has(p + "downsample.0.weight");
          if (blk.has_shortcut) blk.shortcut = L.conv(p + "downsample.0", p + "downsample.1", out, inplanes, 1, st, 1);
          inplanes = out;
        } else {
          blk.convs.push_back(L.conv(p + "conv1", p + "bn1", planes, inplanes, 3, st, first_dilation));
          blk.convs.push_back(L.conv(p + "conv2", p + "bn2", planes, planes, 3, 1, dilation));
          blk.has_shortcut = L.has(p + "downsample.0.weight");
          if (blk.has_shortcut) blk.shortcut = L.conv(p + "downsample.0", p + "downsample.1", planes, inplanes, 1, st, 1);
          inplanes = planes;
        }
        if (!blk.has_shortcut && (st != 1 || blk.convs.front().in_channels != blk.convs.back().out_channels))
          fail(StatusCode::not_found, "missing tensor '", prefix, p, "downsample.0.weight'");
        blocks.push_back(std::move(blk));
        prev_dilation = dilation;
      }
      r.stages_.push_back(std::move(blocks));
    }
    r.out_channels_ = static_cast<int>(inplanes);
  } else {
    if (!bb || bb_type != "resnet")
      fail(StatusCode::unsupported, "backbone_config.model_type '", bb_type,
           "' is not supported (supported: resnet, or a timm resnet with use_timm_backbone)");
    if (r.dilated_)
      fail(StatusCode::unsupported, "a dilated (DC5) backbone needs the timm ResNet (use_timm_backbone)");
    const int64_t emb = config_int_in(*bb, "backbone_config", "embedding_size", 64, 1, kMaxWidth);
    const std::string layer_type = config_name(*bb, "backbone_config", "layer_type", "bottleneck");
    if (layer_type != "bottleneck" && layer_type != "basic")
      fail(StatusCode::unsupported, "config.json: key 'backbone_config.layer_type' is '", layer_type,
           "' (supported: basic, bottleneck)");
    const bool bottleneck = layer_type == "bottleneck";
    const bool down_first = io::config_bool(*bb, "downsample_in_first_stage", false);
    const bool down_in_bottleneck = io::config_bool(*bb, "downsample_in_bottleneck", false);
    // A stage needs at least one block; every number is range-checked
    // (strings, fractions and 1e300 included) before anything is sized.
    const std::vector<int> depths =
        config_ints_in(*bb, "backbone_config", "depths", {3, 4, 6, 3}, 4, 1, kMaxLayers);
    const std::vector<int> widths =
        config_ints_in(*bb, "backbone_config", "hidden_sizes", {256, 512, 1024, 2048}, 4, bottleneck ? 4 : 1,
                       kMaxWidth);
    r.stem_ = hf_conv(L, "embedder.embedder", emb,
                      config_int_in(*bb, "backbone_config", "num_channels", 3, 1, kMaxChannels), 7, 2);
    int64_t in = emb;
    for (int s = 0; s < 4; ++s) {
      const int64_t out = widths[s];
      std::vector<ResnetBlock> blocks;
      for (int b = 0; b < depths[s]; ++b) {
        const std::string p = "encoder.stages." + std::to_string(s) + ".layers." + std::to_string(b) + ".";
        const int st = b > 0 ? 1 : (s > 0 || down_first ? 2 : 1);
        ResnetBlock blk;
        if (bottleneck) {
          const int64_t red = out / 4;
          blk.convs.push_back(hf_conv(L, p + "layer.0", red, in, 1, down_in_bottleneck ? st : 1));
          blk.convs.push_back(hf_conv(L, p + "layer.1", red, red, 3, down_in_bottleneck ? 1 : st));
          blk.convs.push_back(hf_conv(L, p + "layer.2", out, red, 1, 1));
        } else {
          blk.convs.push_back(hf_conv(L, p + "layer.0", out, in, 3, st));
          blk.convs.push_back(hf_conv(L, p + "layer.1", out, out, 3, 1));
        }
        blk.has_shortcut = in != out || st != 1;
        if (blk.has_shortcut) blk.shortcut = hf_conv(L, p + "shortcut", out, in, 1, st);
        blocks.push_back(std::move(blk));
        in = out;
      }
      r.stages_.push_back(std::move(blocks));
    }
    r.out_channels_ = static_cast<int>(in);
  }
  return r;
}

int Resnet::build(graph::Graph& g, int pixels) const {
  using graph::Op;
  // Plain ops: the fusion pass folds the ReLUs and shortcut adds in.
  int h = g.add(Op::nchw_to_nhwc, {pixels});
  h = add_folded_conv(g, h, stem_, Activation::relu);
  graph::Attrs pool;
  pool.kernel = 3;
  pool.stride = 2;
  pool.pad = 1;
  h = g.add(Op::max_pool, {h}, pool);
  graph::Attrs relu;
  relu.epilogue.act = Activation::relu;
  for (const auto& stage : stages_)
    for (const ResnetBlock& b : stage) {
      const int identity = b.has_shortcut ? add_folded_conv(g, h, b.shortcut, Activation::none) : h;
      int t = h;
      for (size_t i = 0; i + 1 < b.convs.size(); ++i) t = add_folded_conv(g, t, b.convs[i], Activation::relu);
      // The last conv adds the shortcut, then the block's ReLU follows.
      t = g.add(Op::add, {add_folded_conv(g, t, b.convs.back(), Activation::none), identity});
      h = g.add(Op::activation, {t}, relu);
    }
  return h;
}

}  // namespace visionrt::models
