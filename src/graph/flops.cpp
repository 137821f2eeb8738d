#include "graph/flops.hpp"

namespace visionrt::graph {

double count_flops(const Graph& g) {
  double flops = 0;
  for (const Node& n : g.nodes()) {
    const Shape& out = g.value(n.output).shape;
    const double outputs = static_cast<double>(shape_numel(out));
    switch (n.op) {
      case Op::linear: flops += 2 * outputs * g.value(n.inputs[1]).shape[1]; break;
      case Op::conv2d: {
        const Shape& w = g.value(n.inputs[1]).shape;  // [Co, kh, kw, Ci]
        flops += 2 * outputs * w[1] * w[2] * w[3];
        break;
      }
      case Op::patch_embed: {
        const Shape& w = g.value(n.inputs[1]).shape;  // [D, C, P, P]
        flops += 2 * outputs * w[1] * w[2] * w[3];
        break;
      }
      case Op::attention: {
        // Per query and output column: Sk multiply-adds for the scores (one
        // column per head's width) and Sk for the weighted sum.
        const double keys = static_cast<double>(g.value(n.inputs[1]).shape[1]);
        flops += 2 * 2 * outputs * keys;
        break;
      }
      default: break;
    }
  }
  return flops;
}

}  // namespace visionrt::graph
