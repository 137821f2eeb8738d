// RT-DETR (RTDetrForObjectDetection) and RT-DETRv2
// (RTDetrV2ForObjectDetection), Hugging Face layout: a ResNet-vd backbone;
// the hybrid encoder (AIFI, a transformer layer with fixed 2-D sine-cosine
// positions on chosen levels, then CCFM's top-down and bottom-up fusion of
// the levels with RepVGG-style CSP blocks); two-stage query selection (the
// encoder's class scores pick num_queries cells, whose anchors refined by a
// box head are the first reference boxes); a decoder whose cross-attention
// is multi-scale deformable attention around the reference boxes, each
// layer refining them. Logits are per-class sigmoid scores, no "no object".
//
// D-FINE (DFineForObjectDetection) is the same detector with an HGNetV2
// backbone, GELAN-style fusion blocks (RepNCSPELAN4) and depthwise
// downsampling (SCDown) in the encoder, and a decoder that gates its
// cross-attention into the residual and predicts each box side as a
// distribution over bins (fine-grained distribution refinement), the
// distributions' sharpness adjusting the class scores (LQE); d_fine.cpp
// reads its parts and d_fine_graph.cpp builds them.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "io/model_folder.hpp"
#include "models/conv_bn.hpp"
#include "models/hgnet_v2.hpp"
#include "models/rt_detr_resnet.hpp"

namespace visionrt::models {

struct RtDetrConfig {
  int version = 1;  // 2: RTDetrV2ForObjectDetection, 3: DFineForObjectDetection
  bool dfine() const { return version == 3; }
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
  std::vector<int> level_points;  // per decoder level; D-FINE may list them
  // D-FINE: the box sides' distributions and the quality estimator.
  int max_num_bins = 32, top_prob_values = 4, lqe_hidden_dim = 64, lqe_layers = 2;
  double reg_scale = 4, up = 0.5, depth_mult = 1;
  std::vector<std::string> labels;  // id2label; logits have labels.size() columns

  static RtDetrConfig from_json(const nlohmann::json& config, int version);
};

// Every key of config.json that transformers reads for RTDetrForObjectDetection
// (version 1), RTDetrV2ForObjectDetection (2) or DFineForObjectDetection (3),
// and what visionrt does with it; the backbone's own keys are
// rt_detr_resnet_config_keys() and hgnet_v2_config_keys().
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
  // D-FINE's fusion block: a 1x1 whose halves feed two CSP branches, all
  // four outputs joined by a last 1x1.
  struct ElanBlock {
    FoldedConv conv1, conv2, conv3, conv4;
    CspBlock csp1, csp2;
  };
  struct DecoderLayer {
    Attention self_attn;
    Norm ln1, ln2, ln3;  // D-FINE: ln2 is the gate's norm
    Linear offsets, attn_weights, value, output, fc1, fc2, cls;
    Linear gate;  // D-FINE
    // The box head: RT-DETR's 3 layers to 4 logits; D-FINE's to each
    // side's bins.
    Linear box[3];
  };
  // One linear layer of the checkpoint: weight [out, in] and bias [out].
  static Linear read_linear(CheckpointReader& n, const std::string& name, int64_t out, int64_t in,
                            const std::string& alt = "");

  static Norm read_norm(CheckpointReader& n, const std::string& p, int64_t width);
  static Attention read_self_attention(CheckpointReader& n, const std::string& p, int64_t width);
  // A CSP block of `blocks` RepVGG bottlenecks: in -> hidden -> out.
  static CspBlock read_csp(CheckpointReader& n, const std::string& p, int64_t in, int64_t hidden, int64_t out,
                           int blocks, double eps);
  static void check_points_scale(CheckpointReader& n, const std::string& name, const std::vector<int>& level_points);

  int csp(graph::Graph& g, int x, const CspBlock& b) const;
  int encoder_layer(graph::Graph& g, int x, int pos, const EncoderLayer& L) const;
  // d_fine.cpp: D-FINE's encoder blocks and decoder heads.
  void load_dfine(CheckpointReader& n);
  int elan(graph::Graph& g, int x, const ElanBlock& b) const;
  // The decoder from the selected queries on; outputs logits and boxes.
  void build_dfine_decoder(graph::Graph& g, int memory, int h, int ref, const graph::Attrs& deform) const;
  int mlp(graph::Graph& g, int x, const std::vector<Linear>& layers) const;

  RtDetrConfig cfg_;
  std::shared_ptr<const graph::WeightTable> table_;
  // The backbone: ResNet-vd, or HGNetV2 (D-FINE's; transformers builds
  // either for any of the three).
  RtDetrResnet resnet_;
  HgnetV2 hgnet_;
  bool uses_hgnet_ = false;
  std::vector<int64_t> backbone_channels_;
  std::vector<int> backbone_strides_;
  std::vector<FoldedConv> encoder_proj_, lateral_, downsample_, decoder_proj_;
  std::vector<std::vector<EncoderLayer>> aifi_;  // per encode_proj_layers entry
  std::vector<CspBlock> fpn_, pan_;
  std::vector<ElanBlock> fpn_elan_, pan_elan_;          // D-FINE's fpn_ / pan_
  std::vector<std::array<FoldedConv, 2>> scdown_;      // D-FINE's downsample_
  std::vector<Linear> pre_box_, lqe_;                  // D-FINE
  float reg_scale_ = 4.f, up_ = 0.5f;                  // D-FINE: as the checkpoint holds them
  Linear enc_output_, enc_score_, enc_box_[3], query_pos_[2];
  Norm enc_norm_;
  int initial_query_ = -1;  // learn_initial_query
  std::vector<DecoderLayer> decoder_;
  int64_t num_parameters_ = 0;
};

}  // namespace visionrt::models
