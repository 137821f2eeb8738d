// What the ViT family's loaders share: the architectures each reads, and
// the weights they derive from a checkpoint when a backend prepares it
// (the prefix rows with their positions, LayerScale folded into a
// projection, a slice of a joined projection).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/epilogue.hpp"
#include "core/tensor.hpp"
#include "models/checkpoint_reader.hpp"

namespace visionrt::models {

// transformers' classification architectures of the family, and its base
// models (encoders without a head, for feature extraction).
constexpr const char* kHfVitArchitectures[] = {
    "ViTForImageClassification", "DeiTForImageClassification", "DeiTForImageClassificationWithTeacher",
    "Dinov2ForImageClassification", "Dinov2WithRegistersForImageClassification"};
constexpr const char* kHfVitBaseModels[] = {"ViTModel", "DeiTModel", "Dinov2Model", "Dinov2WithRegistersModel"};

// A timm checkpoint's config.json: "architecture" (a string) and no
// transformers "architectures" or "model_type".
bool is_timm_config(const nlohmann::json& config);

// An activation name as transformers' ACT2FN or timm's act_layer spell it.
Activation parse_vit_activation(const std::string& act);

// The prefix rows [1, P, D] as the embeddings see them: `tokens` ([1, n, D]
// each, in order) joined, the first `positioned` rows plus the first rows
// of `pos` ([1, rows, D]).
int prefix_weight(CheckpointReader& r, const std::string& name, const std::vector<Tensor>& tokens,
                  int positioned, const Tensor& pos);

// Rows first .. first+count-1 of `table` (any [..., D]) as [count, D],
// plus the rows of `tokens` ([1, count, D]) when given: YOLOS's detection
// tokens with their positions, and its mid position tables' parts.
int table_rows(CheckpointReader& r, const std::string& name, const Tensor& table, int64_t first, int64_t count,
               const Tensor* tokens = nullptr);

// Rows first .. first+count-1 of `pos` ([1, rows, D]) as [1, count, D].
int position_rows(CheckpointReader& r, const std::string& name, const Tensor& pos, int64_t first, int64_t count);

// `w` ([n, k] or [n]) with row i times scale[i]: LayerScale folded into the
// projection whose output it scales, (W x + b) * s = (s W) x + s b.
int scaled_rows(CheckpointReader& r, const std::string& name, const Tensor& w, const Tensor& scale);

// A residual branch's last projection, `t` ([n, k] or [n]), as stored, or
// with its LayerScale `scale` folded in when there is one.
int residual_projection(CheckpointReader& r, const std::string& name, const Tensor& t, const Tensor* scale);

// Rows first .. first+count-1 of `w` ([n, k] or [n]).
int row_slice(CheckpointReader& r, const std::string& name, const Tensor& w, int64_t first, int64_t count);

// A [n] vector of zeros (a projection without bias).
Tensor zero_vector(int64_t n);

}  // namespace visionrt::models
