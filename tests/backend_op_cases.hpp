// The backend-op test's cases: one row per (op, shape, options), each with
// its inputs and its double-precision reference (tests/reference). The
// cases of the real-time DETRs' ops live in backend_op_cases_detection.cpp.
#pragma once
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "graph/graph.hpp"

namespace visionrt::testing {

using Values = std::vector<double>;

// The cases' random numbers: reseeded by all_cases(), so that every
// backend sees the same cases.
std::mt19937& case_rng();

// Uniform in [lo, hi): never zeros.
Tensor random_tensor(Shape shape, float lo = -1.f, float hi = 1.f);

struct Case {
  std::string name;
  graph::Op op;
  graph::Attrs attrs;
  std::vector<Tensor> inputs;  // graph inputs (activations) first, as listed in `weights`
  std::vector<bool> is_weight;
  // The op's result from the values of its inputs as the backend reads them.
  std::function<Values(const std::vector<Values>&)> reference;
  // Times the op rounds a value to a 16-bit compute dtype (see tolerance());
  // 0: a copy, a maximum or a cast, exact in every dtype.
  int roundings = 1;
};

// RT-DETR's and D-FINE's ops: deformable attention, pooling, joins,
// anchors, selection, the HGNetV2 and FDR ops.
void add_detection_cases(std::vector<Case>& cases);

}  // namespace visionrt::testing
