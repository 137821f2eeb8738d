// HGNetV2 (model_type "hgnet_v2"), D-FINE's backbone in Hugging Face
// layout: a stem that joins a max-pooled and a convolved branch, then
// stages of HG blocks, each running a chain of convolutions (or, in light
// blocks, a 1x1 and a depthwise kxk) whose outputs are concatenated with
// its input and squeezed back by two 1x1 convolutions. A stage may start
// with a depthwise strided convolution. Optionally every activated
// convolution is followed by a learnable scalar affine (scale, bias).
// BatchNorm is folded into the convolutions at load.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "graph/graph.hpp"
#include "models/checkpoint_reader.hpp"
#include "models/config_checks.hpp"
#include "models/conv_bn.hpp"

namespace visionrt::models {

// Every key of backbone_config that transformers reads for HGNetV2Config.
const std::vector<ConfigKey>& hgnet_v2_config_keys();

class HgnetV2 {
 public:
  // `backbone` is config.json's backbone_config; `prefix` the tensors'.
  static HgnetV2 load(const nlohmann::json& backbone, CheckpointReader& reader, const std::string& prefix);

  // Appends the backbone to `g`: NCHW pixels in, the NHWC maps of the
  // stages out_features names, shallowest first.
  std::vector<int> build(graph::Graph& g, int pixels) const;

  const std::vector<int64_t>& out_channels() const { return out_channels_; }
  const std::vector<int>& out_strides() const { return out_strides_; }

 private:
  // A convolution and what follows it: its activation, then the affine
  // block when the model has them (scale 1, shift 0 otherwise).
  struct Layer {
    FoldedConv conv;
    Activation act = Activation::none;
    float scale = 1.f, shift = 0.f;
  };
  struct Block {
    std::vector<std::vector<Layer>> chain;  // each link: one conv, or a light block's two
    Layer squeeze, excite;
    bool residual = false;
  };
  struct Stage {
    bool has_downsample = false;
    Layer downsample;
    std::vector<Block> blocks;
  };
  int layer(graph::Graph& g, int x, const Layer& l) const;

  Layer stem1_, stem2a_, stem2b_, stem3_, stem4_;
  std::vector<Stage> stages_;
  std::vector<int> outputs_;  // 0-based stage indices
  std::vector<int64_t> out_channels_;
  std::vector<int> out_strides_;
};

}  // namespace visionrt::models
