// ResNet backbones (18/34/50/101) as DETR uses them, with frozen BatchNorm
// folded into the convolutions at load. Two naming schemes are read: timm's
// (conv1, layer1.0.conv1, ...: use_timm_backbone) and transformers'
// ResNetModel (embedder.embedder.convolution, encoder.stages.0.layers.0...).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "graph/graph.hpp"
#include "models/checkpoint_reader.hpp"
#include "models/config_checks.hpp"
#include "models/conv_bn.hpp"

namespace visionrt::models {

struct ResnetBlock {
  std::vector<FoldedConv> convs;  // 2 (basic) or 3 (bottleneck), in order
  bool has_shortcut = false;
  FoldedConv shortcut;
};

// Every key of DETR's backbone_config that transformers reads (ResNetConfig,
// or TimmBackboneConfig for a timm ResNet), and what visionrt does with it.
// The DETR-level backbone keys (use_timm_backbone, backbone, dilation,
// backbone_kwargs, num_channels) are listed with DETR's (detr.cpp).
const std::vector<ConfigKey>& resnet_backbone_config_keys();

class Resnet {
 public:
  // `config` is the DETR config.json; `prefix` the backbone's tensor prefix.
  // Throws unsupported for backbones other than ResNets, and not_found /
  // shape_mismatch naming the tensor when weights are missing or wrong.
  // Tensors are read through `reader` (the model's), the folded weights
  // (computed once, in F32) added to its table. Config numbers are
  // range-checked.
  static Resnet load(const nlohmann::json& config, CheckpointReader& reader, const std::string& prefix);

  // Appends the backbone to `g`: NCHW pixels in, the last stage's NHWC map out.
  int build(graph::Graph& g, int pixels) const;

  int out_channels() const { return out_channels_; }
  // The total stride of the output map (32, or 16 with a dilated last stage).
  int output_stride() const { return dilated_ ? 16 : 32; }

 private:
  FoldedConv stem_;
  std::vector<std::vector<ResnetBlock>> stages_;
  int out_channels_ = 0;
  bool dilated_ = false;
};

}  // namespace visionrt::models
