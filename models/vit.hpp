// The Vision Transformer family as one encoder described by data: ViT
// (ViTForImageClassification), DeiT (with or without its distillation
// head), DINOv2 (LayerScale, SwiGLU, register tokens), timm's own ViT
// checkpoints, and YOLOS (detection tokens after the patches, DETR's heads). Each loader reads its checkpoint's names into the same
// description (VitConfig + VitWeights); build() makes the graph for one
// input shape.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "graph/graph.hpp"
#include "io/model_folder.hpp"
#include "models/config_checks.hpp"

namespace visionrt::models {

// What the classifier reads from the encoder's tokens.
enum class VitPool {
  class_token,     // the class token (ViT, DeiT, timm "token")
  class_and_mean,  // [class token, mean of the patch tokens] (DINOv2)
  mean,            // the mean of the patch tokens (timm "avg")
};

struct VitConfig {
  std::string architecture;  // as config.json names it
  int hidden_size = 768, num_layers = 12, num_heads = 12, intermediate_size = 3072;
  // The input size the position table was made for.
  int image_height = 224, image_width = 224, patch_size = 16, num_channels = 3;
  bool qkv_bias = true;
  float layer_norm_eps = 1e-12f;
  Activation hidden_act = Activation::gelu_erf;
  // SwiGLU feed-forward: down(silu(gate(x)) * up(x)), intermediate_size wide.
  bool swiglu = false;
  // Rows before the patch tokens: class, distillation and register tokens.
  int prefix_tokens = 1;
  // The position grid follows any input size (DINOv2, timm's
  // dynamic_img_size), not only when interpolate_pos_encoding is asked for;
  // antialias: torch's antialiased bicubic (DINOv2 with registers, timm).
  bool resample_always = false;
  bool antialias = false;
  VitPool pool = VitPool::class_token;
  // DeiT's two heads, over the class and distillation tokens, averaged.
  bool distilled = false;
  // YOLOS: tokens after the patches that DETR's heads read, and position
  // tables added after every layer but the last (use_mid_position_embeddings).
  int detection_tokens = 0;
  bool mid_positions = false;
  std::vector<std::string> labels;  // id2label, one per output

  // ViTForImageClassification's config.json. Throws corrupt_file naming
  // the key for missing or wrong-typed fields, and unsupported for values
  // visionrt cannot run (an unknown hidden_act, say).
  static VitConfig from_json(const nlohmann::json& config);
};

// Every key of config.json that transformers reads for
// ViTForImageClassification, and what visionrt does with it.
const std::vector<ConfigKey>& vit_config_keys();

// Ids in the model's weight table; -1 where the model has none.
struct VitWeights {
  struct Layer {
    int ln1_g, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_g, ln2_b;
    int fc1_w, fc1_b, fc2_w, fc2_b;  // fc1: the gate under SwiGLU
    int up_w = -1, up_b = -1;        // SwiGLU's second projection
  };
  int patch_w, patch_b;
  int prefix = -1;  // [1, prefix_tokens, D]: the prefix rows, their positions added
  int pos;          // [1, grid_h * grid_w, D]: the patch positions
  std::vector<Layer> layers;
  int norm_g = -1, norm_b = -1;     // over every token, after the last layer
  int fc_norm_g = -1, fc_norm_b = -1;  // over the pooled vector (timm "avg")
  struct Head {
    int w, b;
  };
  std::vector<Head> heads;  // one, or DeiT's two (class, distillation)
  int suffix = -1;  // [detection_tokens, D]: YOLOS's detection tokens, their positions added
  // YOLOS's mid position tables, one per layer but the last: the class row
  // [1, D], the patch grid [grid_h * grid_w, D], the detection rows [det, D].
  struct MidPositions {
    int prefix, grid, suffix;
  };
  std::vector<MidPositions> mid;
  std::vector<Head> class_mlp, box_mlp;  // YOLOS: DETR's class and box heads
};

// What a graph computes: the classifier's logits, the encoder's tokens
// after its last normalisation (feature extraction), or YOLOS's logits
// [N, det, labels + 1] and boxes [N, det, 4] (cx, cy, w, h in [0, 1]).
enum class VitOutput { logits, hidden_states, detection };

class VitModel {
 public:
  // Any architecture of the family (see is_vit_family), by the folder's
  // config.json. Checks every tensor the config implies, by name, shape and
  // dtype, and keeps them as stored (memory-mapped); Q, K and V
  // projections are joined once into one matrix, LayerScale folded into the
  // projection before it, the prefix rows' positions added once.
  static VitModel load(const io::ModelFolder& folder);
  // The architectures load() reads: transformers' names, or a timm
  // checkpoint's (config.json with "architecture"); base_models: also the
  // encoders without a head (ViTModel, Dinov2Model...).
  static bool is_vit_family(const nlohmann::json& config, bool base_models = false);
  static const char* supported_architectures();

  VitModel(VitConfig config, std::shared_ptr<const graph::WeightTable> table, VitWeights weights,
           int64_t parameters)
      : cfg_(std::move(config)), table_(std::move(table)), w_(std::move(weights)), num_parameters_(parameters) {}

  const VitConfig& config() const { return cfg_; }
  int64_t num_parameters() const { return num_parameters_; }
  const std::shared_ptr<const graph::WeightTable>& weights() const { return table_; }

  // The graph for a batch of `batch` images of height x width: input
  // "pixel_values" [batch, C, height, width]; output "logits" [batch,
  // labels] or the tokens [batch, prefix + patches, D]. A size other than
  // the position table's needs interpolate_pos_encoding unless the model
  // always resamples its position grid.
  graph::Graph build(int batch, int height, int width, bool interpolate_pos_encoding,
                     VitOutput output = VitOutput::logits) const;

 private:
  VitConfig cfg_;
  std::shared_ptr<const graph::WeightTable> table_;
  VitWeights w_;
  int64_t num_parameters_ = 0;
};

// The loaders of each naming, in vit_hf.cpp and vit_timm.cpp.
VitModel load_hf_vit(const io::ModelFolder& folder, const std::string& architecture);
VitModel load_timm_vit(const io::ModelFolder& folder);

}  // namespace visionrt::models
