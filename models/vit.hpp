// Vision Transformer (ViTForImageClassification, Hugging Face layout):
// config.json -> VitConfig; model.safetensors -> weights bound by name and
// shape; build() -> a graph for one input shape.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "graph/graph.hpp"
#include "io/model_folder.hpp"
#include "models/config_checks.hpp"

namespace visionrt::models {

struct VitConfig {
  int hidden_size = 768, num_layers = 12, num_heads = 12, intermediate_size = 3072;
  int image_height = 224, image_width = 224, patch_size = 16, num_channels = 3;
  bool qkv_bias = true;
  float layer_norm_eps = 1e-12f;
  Activation hidden_act = Activation::gelu_erf;
  std::vector<std::string> labels;  // id2label, one per output

  // Throws corrupt_file naming the key for missing or wrong-typed fields, and
  // unsupported for values visionrt cannot run (an unknown hidden_act, say).
  static VitConfig from_json(const nlohmann::json& config);
};

// Every key of config.json that transformers reads for
// ViTForImageClassification, and what visionrt does with it.
const std::vector<ConfigKey>& vit_config_keys();

class VitModel {
 public:
  // Checks every tensor the config implies, by name, shape and dtype, and
  // keeps them as stored (memory-mapped). Q, K and V projections are joined
  // once into one matrix so attention reads them from a single product.
  static VitModel load(const io::ModelFolder& folder);

  const VitConfig& config() const { return cfg_; }
  int64_t num_parameters() const { return num_parameters_; }

  // The model's weights, shared by every graph it builds.
  const std::shared_ptr<const graph::WeightTable>& weights() const { return table_; }

  // The graph for a batch of `batch` images of height x width: input
  // "pixel_values" [batch, C, height, width], output "logits" [batch, labels].
  // Sizes other than the checkpoint's need interpolate_pos_encoding: the
  // position table is then resampled by a node of the graph.
  graph::Graph build(int batch, int height, int width, bool interpolate_pos_encoding) const;

 private:
  struct Layer {  // ids in the weight table
    int ln1_g, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_g, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
  };

  VitConfig cfg_;
  std::shared_ptr<const graph::WeightTable> table_;
  int patch_w_, patch_b_, cls_, pos_;
  std::vector<Layer> layers_;
  int ln_g_, ln_b_, head_w_, head_b_;
  int64_t num_parameters_ = 0;
};

}  // namespace visionrt::models
