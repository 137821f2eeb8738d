// The one place fusions are decided. Builders emit plain ops (a linear, then
// an add, then an activation); this pass folds an add of a residual and an
// activation into the linear or conv2d that feeds them, recording in which
// order they apply (the node's Epilogue), when the backend accepts it.
#pragma once
#include "graph/graph.hpp"

namespace visionrt::graph {

// A backend's say on each fusion: whether a node of `op` (linear or
// conv2d) may take epilogue `e`; null accepts all.
using EpilogueFilter = bool (*)(Op op, const Epilogue& e);

// Folds, while the producer's result has no other use:
//   producer -> activation          : act
//   producer -> add(other)          : residual (after the producer's act, if it has one)
//   producer(+residual) -> activation : act after the residual
// The fused node runs where the consumer ran, after the residual exists.
void fuse_epilogues(Graph& g, EpilogueFilter accepts = nullptr);

}  // namespace visionrt::graph
