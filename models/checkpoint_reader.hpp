// The one way the model builders read a checkpoint: a tensor by its name
// (or the other name a transformers version saves it under), checked to
// have the shape the config implies, recorded as used (refuse_unused names
// every stored tensor nothing read) and counted as a parameter; then added
// to the model's WeightTable as stored, or as a weight a backend derives
// when it prepares it (rows stacked, BatchNorm folded), so that only the
// backend's own form of it is ever kept.
#pragma once
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "io/safetensors.hpp"
#include "models/config_checks.hpp"

namespace visionrt::models {

class CheckpointReader {
 public:
  CheckpointReader(const io::WeightStore& store, graph::WeightTable& table) : store_(store), table_(table) {}

  // Tensor `name` as stored, checked against `shape`; `alt` is read instead
  // when only it is stored. Throws not_found / shape_mismatch naming it.
  Tensor tensor(const std::string& name, const Shape& shape, const std::string& alt = "");
  // The same, added to the table as it is stored: its weight id.
  int weight(const std::string& name, const Shape& shape, const std::string& alt = "");
  // A tensor read (and reshaped, say) by the caller, added as it is.
  int add(const std::string& name, Tensor t) { return table_.add(name, std::move(t)); }
  // A weight computed from read tensors when a backend prepares it.
  int derived(const std::string& name, Shape shape, DType dtype, graph::WeightTable::Recipe make) {
    return table_.add_derived(name, std::move(shape), dtype, std::move(make));
  }
  // The rows of `parts` ([n_i, K] matrices or [n_i] vectors) stacked into
  // one derived weight (a fused QKV): in their stored dtype when they share
  // it, else F32.
  int stacked(const std::string& name, std::vector<Tensor> parts);

  bool has(const std::string& name) const { return store_.contains(name); }
  // A stored tensor's header, to follow its dimensions (custom widths);
  // not recorded as read.
  Tensor header(const std::string& name) const { return store_.raw(name); }

  const UsedWeights& used() const { return used_; }
  int64_t parameters() const { return parameters_; }

 private:
  const io::WeightStore& store_;
  graph::WeightTable& table_;
  UsedWeights used_;
  int64_t parameters_ = 0;
};

}  // namespace visionrt::models
