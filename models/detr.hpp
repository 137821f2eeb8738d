// DETR (DetrForObjectDetection, Hugging Face layout): ResNet backbone, 1x1
// input projection, 2-D sine position encoding from the padding mask,
// post-norm Transformer encoder and decoder over learned object queries,
// class head (num_labels + 1, "no object" last) and 3-layer box MLP.
#pragma once
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "io/model_folder.hpp"
#include "models/resnet.hpp"

namespace visionrt::models {

struct DetrConfig {
  int d_model = 256, encoder_layers = 6, decoder_layers = 6;
  int encoder_heads = 8, decoder_heads = 8, encoder_ffn = 2048, decoder_ffn = 2048;
  int num_queries = 100;
  graph::Activation activation = graph::Activation::relu;
  // transformers normalises each decoder layer's output with the final
  // LayerNorm, and feeds it on, when auxiliary_loss is set.
  bool auxiliary_loss = false;
  std::vector<std::string> labels;  // id2label; logits have labels.size() + 1 columns

  static DetrConfig from_json(const nlohmann::json& config);
};

class DetrModel {
 public:
  static DetrModel load(const io::ModelFolder& folder);

  const DetrConfig& config() const { return cfg_; }
  int64_t num_parameters() const { return num_parameters_; }

  // Inputs "pixel_values" [N,3,H,W] and "pixel_mask" [N,H,W] (1 valid,
  // 0 padding); outputs "logits" [N,Q,labels+1] and "pred_boxes" [N,Q,4]
  // (cx, cy, w, h relative to the unpadded image).
  graph::Graph build(int batch, int height, int width) const;

 private:
  struct Attention {
    Tensor qk_w, qk_b;  // encoder / decoder self-attention: Q and K joined
    Tensor q_w, q_b, k_w, k_b;  // cross-attention: separate inputs
    Tensor v_w, v_b, o_w, o_b;
  };
  struct Layer {
    Attention self_attn, cross_attn;
    Tensor ln1_g, ln1_b, ln2_g, ln2_b, ln3_g, ln3_b;
    Tensor fc1_w, fc1_b, fc2_w, fc2_b;
  };

  DetrConfig cfg_;
  Resnet backbone_;
  Tensor proj_w_, proj_b_, query_pos_;
  std::vector<Layer> encoder_, decoder_;
  Tensor dec_ln_g_, dec_ln_b_, cls_w_, cls_b_;
  Tensor box_w_[3], box_b_[3];
  int64_t num_parameters_ = 0;
};

}  // namespace visionrt::models
