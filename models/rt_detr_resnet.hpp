// RT-DETR's ResNet-vd backbones (RTDetrResNetBackbone, model_type
// "rt_detr_resnet"): a deep stem of three 3x3 convolutions, and shortcuts
// that average-pool 2x2 before their 1x1 convolution where a stage halves
// the map; basic blocks (R18, R34) or bottlenecks (R50, R101). BatchNorm is
// folded into the convolutions at load. Several stages' maps come out.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "graph/graph.hpp"
#include "models/checkpoint_reader.hpp"
#include "models/config_checks.hpp"
#include "models/conv_bn.hpp"

namespace visionrt::models {

// Every key of backbone_config that transformers reads for RTDetrResNetConfig.
const std::vector<ConfigKey>& rt_detr_resnet_config_keys();

class RtDetrResnet {
 public:
  // `backbone` is config.json's backbone_config; `prefix` the tensors'.
  static RtDetrResnet load(const nlohmann::json& backbone, CheckpointReader& reader, const std::string& prefix);

  // Appends the backbone to `g`: NCHW pixels in, the NHWC maps of the
  // stages out_indices names out, shallowest first.
  std::vector<int> build(graph::Graph& g, int pixels) const;

  // Channels and total stride of each output map.
  const std::vector<int64_t>& out_channels() const { return out_channels_; }
  const std::vector<int>& out_strides() const { return out_strides_; }

 private:
  struct Block {
    std::vector<FoldedConv> convs;  // 2 (basic) or 3 (bottleneck)
    bool pool_shortcut = false;     // average-pool 2x2 before the shortcut (conv or identity)
    bool has_shortcut_conv = false;
    FoldedConv shortcut;
  };
  std::vector<FoldedConv> stem_;
  std::vector<std::vector<Block>> stages_;
  std::vector<int> outputs_;  // 0-based stage indices
  std::vector<int64_t> out_channels_;
  std::vector<int> out_strides_;
  Activation act_ = Activation::relu;  // the stem's and each block's last
};

}  // namespace visionrt::models
