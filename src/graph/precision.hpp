// The precision pass, run before memory planning with the backend's
// precision policy (core/precision.hpp): its activation dtype. F32 leaves the graph as it is. F16 or BF16 gives every
// activation that dtype and has every weight read in it, while graph inputs
// (pixels, pixel masks), masks derived from them and graph outputs (logits,
// boxes) stay F32, with explicit casts at the boundaries. Accumulation and
// LayerNorm/softmax statistics stay F32 inside the kernels.
#pragma once
#include "core/precision.hpp"
#include "graph/graph.hpp"

namespace visionrt::graph {

Graph apply_precision(const Graph& g, const PrecisionPolicy& policy);

}  // namespace visionrt::graph
