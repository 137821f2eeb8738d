// Convolutions followed by an inference-mode BatchNorm, folded into one
// convolution when a backend prepares the weights: the ResNet backbones'
// and the hybrid encoder's layers. RepVGG's pair of a 3x3 and a 1x1 branch
// summed folds further into one 3x3.
#pragma once
#include <string>

#include "graph/graph.hpp"
#include "models/checkpoint_reader.hpp"

namespace visionrt::models {

// One convolution with its BatchNorm folded in: weight [Co, kh, kw,
// Ci/groups] (NHWC order) and bias [Co], ids in the model's weight table.
struct FoldedConv {
  int weight = -1, bias = -1;
  int64_t out_channels = 0, in_channels = 0;
  int stride = 1, pad = 0, dilation = 1, groups = 1;
};

// Reads conv weight `conv_weight` [co, ci, k, k] (no bias) and the BatchNorm
// tensors `<bn>.weight`, `.bias`, `.running_mean`, `.running_var`; the
// folded weight is scale * w with scale = gamma / sqrt(var + eps), the bias
// beta - mean * scale. Padding dilation * (k / 2): "same" for odd k.
// A depthwise convolution's weight is [co, 1, k, k]: pass ci 1 and set
// the result's groups to co.
FoldedConv read_conv_bn(CheckpointReader& reader, const std::string& conv_weight, const std::string& bn,
                        int64_t co, int64_t ci, int k, int stride, int dilation, double eps);

// RepVGG's block before its activation: conv3x3+BN(x) + conv1x1+BN(x), both
// c -> c, stride 1, as one 3x3 convolution (the 1x1 folded into the centre tap).
FoldedConv read_repvgg(CheckpointReader& reader, const std::string& conv3x3_weight, const std::string& bn3x3,
                       const std::string& conv1x1_weight, const std::string& bn1x1, int64_t c, double eps);

// Appends `c` to `g` on NHWC x, then `act` (a separate op: the fusion pass
// folds it in where the backend can).
int add_folded_conv(graph::Graph& g, int x, const FoldedConv& c, Activation act);

}  // namespace visionrt::models
