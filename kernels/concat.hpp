// Two tensors joined along one axis, as torch.cat([a, b], dim=axis) and the
// CPU backend's concat: with every dim but the axis equal, the output holds,
// for each index of the dims before the axis (`outer` of them), a's block of
// a_inner elements then b's of b_inner (the axis and the dims after it).
// RT-DETR joins channels of NHWC maps (the last axis) and the levels'
// flattened sequences (axis 1). A copy: nothing rounds.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct ConcatParams {
  DType dtype = DType::f32;  // of a, b and output
  int64_t outer = 0;         // product of the dims before the axis
  int64_t a_inner = 0, b_inner = 0;  // elements of a and of b per outer index
  const void* a = nullptr;  // [outer, a_inner]
  const void* b = nullptr;  // [outer, b_inner]
  void* output = nullptr;   // [outer, a_inner + b_inner]; not overlapping a or b
  void* stream = nullptr;   // cudaStream_t
};

// Refuses unknown types, negative sizes, an output past 2^40 bytes, null
// pointers and an output overlapping an input.
bool can_implement(const ConcatParams& p, std::string* why);

// Enqueues the copy on p.stream (one kernel for both inputs); throws
// visionrt::Error: unsupported when can_implement refuses p, device_error
// when the launch fails.
void concat(const ConcatParams& p);

}  // namespace visionrt::kernels
