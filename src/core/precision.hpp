// The one precision policy: what each kind of number of a model is computed
// in on a backend. The public Precision ("fp32", "bf16", ...) becomes a
// policy for a device in one place (api/registry.cpp, precision_policy);
// the graph's precision pass reads `activations`, the CPU backend
// `products`, the CUDA backend `activations` and `tf32`. So "bf16" is one
// idea with its consequences per device written down together: on a GPU
// activations and weights are BF16; on the CPU activations stay F32 and
// only the operands of matrix products and convolutions are BF16.
#pragma once
#include "core/dtype.hpp"

namespace visionrt {

struct PrecisionPolicy {
  // Activations, and the weights read with them: the dtype the precision
  // pass gives the graph between its F32 inputs and outputs.
  DType activations = DType::f32;
  // The operands of matrix products and convolutions.
  DType products = DType::f32;
  // Sums inside products, LayerNorm and softmax statistics: F32 throughout,
  // stated so that no kernel assumes otherwise.
  DType accumulate = DType::f32;
  // F32 products may round their operands to TF32 on tensor cores.
  bool tf32 = false;
};

}  // namespace visionrt
