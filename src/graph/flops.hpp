// Floating-point operations a graph performs: the sum of each node's op's
// flops rule (graph/ops.hpp): two per multiply-add of the matrix products
// (linear, conv2d, patch_embed, attention's QK^T and PV).
#pragma once
#include "graph/graph.hpp"

namespace visionrt::graph {

double count_flops(const Graph& g);

}  // namespace visionrt::graph
