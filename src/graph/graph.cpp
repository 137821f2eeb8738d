#include "graph/graph.hpp"

#include "core/error.hpp"
#include "graph/ops.hpp"

namespace visionrt::graph {

int Graph::add_input(std::string name, Shape shape) {
  values_.push_back({std::move(name), std::move(shape), ValueKind::input, {}});
  inputs_.push_back(static_cast<int>(values_.size()) - 1);
  return inputs_.back();
}

int Graph::add_weight(std::string name, Tensor data) {
  VRT_CHECK(data.dtype() == DType::f32, "weight ", name, " is not F32");
  Shape shape = data.shape();
  values_.push_back({std::move(name), std::move(shape), ValueKind::weight, std::move(data)});
  return static_cast<int>(values_.size()) - 1;
}

int Graph::add(Op op, std::vector<int> inputs, const Attrs& attrs) {
  const OpDef& def = op_def(op);
  const int n = static_cast<int>(inputs.size());
  VRT_CHECK(n >= def.min_inputs && n <= def.max_inputs, def.name, " takes ", def.min_inputs,
            "..", def.max_inputs, " inputs, got ", n);
  std::vector<const Shape*> shapes;
  for (int id : inputs) shapes.push_back(&values_.at(id).shape);
  Shape out = def.infer(shapes, attrs);
  values_.push_back({std::string(def.name) + "#" + std::to_string(nodes_.size()), std::move(out),
                     ValueKind::activation, {}});
  const int out_id = static_cast<int>(values_.size()) - 1;
  nodes_.push_back({op, std::move(inputs), out_id, attrs});
  return out_id;
}

void fuse_linear_epilogues(Graph& g) {
  auto& nodes = g.mutable_nodes();
  std::vector<int> uses(g.values().size(), 0);
  for (const Node& n : nodes)
    for (int v : n.inputs) ++uses[v];
  for (int v : g.outputs()) ++uses[v];
  std::vector<int> producer(g.values().size(), -1);
  for (size_t i = 0; i < nodes.size(); ++i) producer[nodes[i].output] = static_cast<int>(i);

  std::vector<char> dead(nodes.size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i) {
    Node& n = nodes[i];
    if (n.op != Op::activation && n.op != Op::add) continue;
    // The linear feeding this node, when its result is used here alone.
    int src = -1, other = -1;
    for (size_t k = 0; k < n.inputs.size() && src < 0; ++k) {
      const int p = producer[n.inputs[k]];
      if (p < 0 || dead[p] || nodes[p].op != Op::linear || uses[n.inputs[k]] != 1) continue;
      if (n.op == Op::activation && nodes[p].attrs.act == Activation::none) src = p;
      // A residual joins after the activation, so only fuse into a linear
      // that has no residual yet; activation then residual is the order.
      if (n.op == Op::add && nodes[p].inputs.size() == 3) {
        src = p;
        other = n.inputs[1 - k];
      }
    }
    if (src < 0) continue;
    Node& lin = nodes[src];
    if (n.op == Op::activation) {
      lin.attrs.act = n.attrs.act;
    } else {
      lin.inputs.push_back(other);
    }
    lin.output = n.output;
    producer[n.output] = src;
    dead[i] = 1;
    // The linear now runs where the consumer ran, after `other` exists.
    std::swap(nodes[src], nodes[i]);
    std::swap(dead[src], dead[i]);
    producer[nodes[i].output] = static_cast<int>(i);
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (!dead[i]) kept.push_back(nodes[i]);
  nodes = std::move(kept);
}

}  // namespace visionrt::graph
