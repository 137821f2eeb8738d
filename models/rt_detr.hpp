// RT-DETR (RTDetrForObjectDetection) and RT-DETRv2
// (RTDetrV2ForObjectDetection), Hugging Face layout: a ResNet-vd backbone;
// the hybrid encoder (AIFI, a transformer layer with fixed 2-D sine-cosine
// positions on chosen levels, then CCFM's top-down and bottom-up fusion of
// the levels with RepVGG-style CSP blocks); two-stage query selection (the
// encoder's class scores pick num_queries cells, whose anchors refined by a
// box head are the first reference boxes); a decoder whose cross-attention
// is multi-scale deformable attention around the reference boxes, each
// layer refining them. Logits are per-class sigmoid scores, no "no object".
#pragma once
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "io/model_folder.hpp"
#include "models/conv_bn.hpp"
#include "models/rt_detr_resnet.hpp"

namespace visionrt::models {

struct RtDetrConfig {
  int version = 1;  // 2: RTDetrV2ForObjectDetection
  int d_model = 256, encoder_hidden_dim = 256;
  std::vector<int> encoder_in_channels{512, 1024, 2048}, feat_strides{8, 16, 32}, encode_proj_layers{2};
  int encoder_layers = 1, encoder_ffn = 1024, encoder_heads = 8;
  double temperature = 10000, hidden_expansion = 1.0;
  Activation encoder_activation = Activation::gelu_erf, activation = Activation::silu,
             decoder_activation = Activation::relu;
  bool normalize_before = false, learn_initial_query = false;
  bool aifi_positions = true;  // false when eval_size is set (see from_json)
  int num_queries = 300, decoder_ffn = 1024, num_feature_levels = 3, decoder_points = 4, decoder_layers = 6,
      decoder_heads = 8;
  std::vector<int> decoder_in_channels{256, 256, 256};
  std::vector<int> anchor_image_size;  // empty: anchors follow the input
  double layer_norm_eps = 1e-5, batch_norm_eps = 1e-5;
  // RT-DETRv2's sampling: offsets scaled by offset_scale / points, and the
  // nearest cell instead of bilinear taps when discrete.
  double offset_scale = 0.5;
  bool discrete = false;
  std::vector<std::string> labels;  // id2label; logits have labels.size() columns

  static RtDetrConfig from_json(const nlohmann::json& config, int version);
};

// Every key of config.json that transformers reads for RTDetrForObjectDetection
// (version 1) or RTDetrV2ForObjectDetection (2), and what visionrt does with
// it; the backbone's own keys are rt_detr_resnet_config_keys().
const std::vector<ConfigKey>& rt_detr_config_keys(int version);

class RtDetrModel {
 public:
  // The version follows config.json's architecture.
  static RtDetrModel load(const io::ModelFolder& folder);

  const RtDetrConfig& config() const { return cfg_; }
  int64_t num_parameters() const { return num_parameters_; }
  const std::shared_ptr<const graph::WeightTable>& weights() const { return table_; }

  // Input "pixel_values" [N,3,H,W]; outputs "logits" [N,Q,labels] and
  // "pred_boxes" [N,Q,4] (cx, cy, w, h relative to the image). Every
  // level's map must be twice the next deeper one (the fusion joins them),
  // as an input of a multiple of the deepest stride gives.
  graph::Graph build(int batch, int height, int width) const;

 private:
  struct Attention {  // self-attention: Q and K joined
    int qk_w = -1, qk_b = -1, v_w = -1, v_b = -1, o_w = -1, o_b = -1;
  };
  struct Norm {
    int g = -1, b = -1;
  };
  struct Linear {
    int w = -1, b = -1;
  };
  struct EncoderLayer {
    Attention attn;
    Norm ln1, ln2;
    Linear fc1, fc2;
  };
  struct CspBlock {
    FoldedConv conv1, conv2;
    std::vector<FoldedConv> bottlenecks;  // RepVGG, each one 3x3
    bool has_conv3 = false;
    FoldedConv conv3;
  };
  struct DecoderLayer {
    Attention self_attn;
    Norm ln1, ln2, ln3;
    Linear offsets, attn_weights, value, output, fc1, fc2, cls;
    Linear box[3];
  };
  // One linear layer of the checkpoint: weight [out, in] and bias [out].
  static Linear read_linear(CheckpointReader& n, const std::string& name, int64_t out, int64_t in,
                            const std::string& alt = "");

  int csp(graph::Graph& g, int x, const CspBlock& b) const;
  int encoder_layer(graph::Graph& g, int x, int pos, const EncoderLayer& L) const;

  RtDetrConfig cfg_;
  std::shared_ptr<const graph::WeightTable> table_;
  RtDetrResnet backbone_;
  std::vector<FoldedConv> encoder_proj_, lateral_, downsample_, decoder_proj_;
  std::vector<std::vector<EncoderLayer>> aifi_;  // per encode_proj_layers entry
  std::vector<CspBlock> fpn_, pan_;
  Linear enc_output_, enc_score_, enc_box_[3], query_pos_[2];
  Norm enc_norm_;
  int initial_query_ = -1;  // learn_initial_query
  std::vector<DecoderLayer> decoder_;
  int64_t num_parameters_ = 0;
};

}  // namespace visionrt::models
