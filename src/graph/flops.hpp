// Floating-point operations a graph performs: two per multiply-add of its
// matrix products (linear, conv2d, patch_embed, attention's QK^T and PV).
// The element-wise ops are left out: they are memory-bound and small.
#pragma once
#include "graph/graph.hpp"

namespace visionrt::graph {

double count_flops(const Graph& g);

}  // namespace visionrt::graph
