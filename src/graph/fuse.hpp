// The one place fusions are decided. Builders emit plain ops (a linear, then
// an add, then an activation); this pass folds an add of a residual and an
// activation into the linear or conv2d that feeds them, recording in which
// order they apply (EpilogueOrder), when the backend accepts that epilogue.
#pragma once
#include "graph/graph.hpp"

namespace visionrt::graph {

// The epilogue a fusion would give a node: its attrs with act and order
// set, and whether it would have a residual.
struct Epilogue {
  Op op;  // linear or conv2d
  Activation act;
  bool residual;
  EpilogueOrder order;
};

// A backend's say on each fusion; null accepts all.
using EpilogueFilter = bool (*)(const Epilogue& e);

// Folds, while the producer's result has no other use:
//   producer -> activation          : act
//   producer -> add(other)          : residual (after the producer's act, if it has one)
//   producer(+residual) -> activation : act after the residual
// The fused node runs where the consumer ran, after the residual exists.
void fuse_epilogues(Graph& g, EpilogueFilter accepts = nullptr);

}  // namespace visionrt::graph
