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
  Activation activation = Activation::relu;
  // transformers normalises each decoder layer's output with the final
  // LayerNorm, and feeds it on, when auxiliary_loss is set.
  bool auxiliary_loss = false;
  std::vector<std::string> labels;  // id2label; logits have labels.size() + 1 columns

  static DetrConfig from_json(const nlohmann::json& config);
};

// Every key of config.json that transformers reads for
// DetrForObjectDetection, and what visionrt does with it; the backbone's
// own keys are resnet_backbone_config_keys().
const std::vector<ConfigKey>& detr_config_keys();

class DetrModel {
 public:
  static DetrModel load(const io::ModelFolder& folder);

  const DetrConfig& config() const { return cfg_; }
  int64_t num_parameters() const { return num_parameters_; }
  // The model's weights, shared by every graph it builds.
  const std::shared_ptr<const graph::WeightTable>& weights() const { return table_; }

  // Inputs "pixel_values" [N,3,H,W] and "pixel_mask" [N,H,W] (1 valid,
  // 0 padding); outputs "logits" [N,Q,labels+1] and "pred_boxes" [N,Q,4]
  // (cx, cy, w, h relative to the unpadded image).
  graph::Graph build(int batch, int height, int width) const;

 private:
  // Ids in the weight table.
  struct Attention {
    int qk_w = -1, qk_b = -1;  // encoder / decoder self-attention: Q and K joined
    int q_w = -1, q_b = -1, k_w = -1, k_b = -1;  // cross-attention: separate inputs
    int v_w = -1, v_b = -1, o_w = -1, o_b = -1;
  };
  struct Layer {
    Attention self_attn, cross_attn;
    int ln1_g = -1, ln1_b = -1, ln2_g = -1, ln2_b = -1, ln3_g = -1, ln3_b = -1;
    int fc1_w = -1, fc1_b = -1, fc2_w = -1, fc2_b = -1;
  };

  DetrConfig cfg_;
  std::shared_ptr<const graph::WeightTable> table_;
  Resnet backbone_;
  int proj_w_ = -1, proj_b_ = -1, query_pos_ = -1;
  std::vector<Layer> encoder_, decoder_;
  int dec_ln_g_ = -1, dec_ln_b_ = -1, cls_w_ = -1, cls_b_ = -1;
  int box_w_[3] = {-1, -1, -1}, box_b_[3] = {-1, -1, -1};
  int64_t num_parameters_ = 0;
};

}  // namespace visionrt::models
