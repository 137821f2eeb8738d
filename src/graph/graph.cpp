#include "graph/graph.hpp"

#include "core/error.hpp"
#include "graph/ops.hpp"

namespace visionrt::graph {

int WeightTable::add(std::string name, Tensor stored) {
  VRT_CHECK(stored.defined(), "weight ", name, " has no data");
  Shape shape = stored.shape();
  const DType dtype = stored.dtype();
  entries_.push_back({std::move(name), std::move(shape), dtype, std::move(stored), nullptr});
  return static_cast<int>(entries_.size()) - 1;
}

int WeightTable::add_derived(std::string name, Shape shape, DType dtype, Recipe make) {
  entries_.push_back({std::move(name), std::move(shape), dtype, Tensor(), std::move(make)});
  return static_cast<int>(entries_.size()) - 1;
}

Tensor WeightTable::materialize(int id) const {
  const Entry& e = entries_.at(id);
  if (!e.make) return e.stored;
  Tensor t = e.make();
  VRT_CHECK(t.shape() == e.shape && t.dtype() == e.dtype, "derived weight ", e.name, " is ",
            dtype_name(t.dtype()), " ", shape_str(t.shape()), ", declared ", dtype_name(e.dtype), " ",
            shape_str(e.shape));
  return t;
}

size_t WeightTable::bytes() const {
  size_t n = 0;
  for (const Entry& e : entries_) n += static_cast<size_t>(shape_numel(e.shape)) * dtype_size(e.dtype);
  return n;
}

Graph::Graph() : own_weights_(std::make_shared<WeightTable>()), weights_(own_weights_) {}

Graph::Graph(std::shared_ptr<const WeightTable> weights) : weights_(std::move(weights)) {
  VRT_CHECK(weights_ != nullptr, "a graph needs a weight table");
}

int Graph::add_input(std::string name, Shape shape, DType dtype) {
  values_.push_back({std::move(name), std::move(shape), dtype, ValueKind::input, -1});
  inputs_.push_back(static_cast<int>(values_.size()) - 1);
  return inputs_.back();
}

int Graph::add_weight(int table_id) {
  values_.push_back({weights_->name(table_id), weights_->shape(table_id), DType::f32, ValueKind::weight, table_id});
  return static_cast<int>(values_.size()) - 1;
}

int Graph::add_weight(std::string name, Tensor data) {
  VRT_CHECK(own_weights_ != nullptr, "weights can only be added to a graph with its own table");
  return add_weight(own_weights_->add(std::move(name), std::move(data)));
}

int Graph::add(Op op, std::vector<int> inputs, const Attrs& attrs) {
  const OpDef& def = op_def(op);
  const int n = static_cast<int>(inputs.size());
  VRT_CHECK(n >= def.min_inputs && n <= def.max_inputs, def.name, " takes ", def.min_inputs,
            "..", def.max_inputs, " inputs, got ", n);
  std::vector<const Shape*> shapes;
  std::vector<DType> dtypes;
  for (int id : inputs) {
    shapes.push_back(&values_.at(id).shape);
    dtypes.push_back(values_.at(id).dtype);
  }
  Shape out = def.infer(shapes, attrs);
  const DType dtype = infer_dtype(op, dtypes, attrs);
  values_.push_back({std::string(def.name) + "#" + std::to_string(nodes_.size()), std::move(out), dtype,
                     ValueKind::activation, -1});
  const int out_id = static_cast<int>(values_.size()) - 1;
  nodes_.push_back({op, std::move(inputs), out_id, attrs});
  // An op that takes an epilogue has a residual exactly when it is given
  // one (its fourth input): the node says so itself, for every backend.
  Epilogue& e = nodes_.back().attrs.epilogue;
  e.residual = def.takes_epilogue && n > 3;
  return out_id;
}

}  // namespace visionrt::graph
