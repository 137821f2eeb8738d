#include "graph/fuse.hpp"

#include <utility>

#include "graph/ops.hpp"

namespace visionrt::graph {
namespace {

// The epilogue `producer` would have after absorbing `consumer`, or false
// when the pair does not fuse.
bool fused_epilogue(const Node& producer, const Node& consumer, Epilogue* e) {
  *e = producer.attrs.epilogue;
  if (consumer.op == Op::activation) {
    if (e->act != Activation::none) return false;  // two activations in a row stay apart
    e->act = consumer.attrs.epilogue.act;
    if (e->residual) e->order = ResidualOrder::residual_then_act;
    return true;
  }
  if (consumer.op == Op::add) {
    if (e->residual) return false;  // one residual per node
    e->residual = true;
    e->order = ResidualOrder::act_then_residual;
    return true;
  }
  return false;
}

}  // namespace

void fuse_epilogues(Graph& g, EpilogueFilter accepts) {
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
    int src = -1, other = -1;
    Epilogue e{};
    for (size_t k = 0; k < n.inputs.size() && src < 0; ++k) {
      const int p = producer[n.inputs[k]];
      if (p < 0 || dead[p] || !op_def(nodes[p].op).takes_epilogue || uses[n.inputs[k]] != 1) continue;
      // The residual must have the output's dtype and shape: add's rules
      // already hold both inputs to that.
      if (!fused_epilogue(nodes[p], n, &e) || (accepts && !accepts(nodes[p].op, e))) continue;
      src = p;
      if (n.op == Op::add) other = n.inputs[1 - k];
    }
    if (src < 0) continue;
    Node& fused = nodes[src];
    fused.attrs.epilogue = e;
    if (other >= 0) fused.inputs.push_back(other);
    fused.output = n.output;
    dead[i] = 1;
    // The fused node now runs where the consumer ran, after `other` exists.
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
