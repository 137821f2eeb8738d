#include "graph/flops.hpp"

#include "graph/ops.hpp"

namespace visionrt::graph {

double count_flops(const Graph& g) {
  double flops = 0;
  for (const Node& n : g.nodes()) {
    const OpDef& def = op_def(n.op);
    if (!def.flops) continue;
    std::vector<const Shape*> in;
    for (int v : n.inputs) in.push_back(&g.value(v).shape);
    flops += def.flops(in, g.value(n.output).shape, n.attrs);
  }
  return flops;
}

}  // namespace visionrt::graph
