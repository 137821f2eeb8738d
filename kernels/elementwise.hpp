// The element-wise GPU kernel on row-major [rows, cols] tensors: the epilogue
// of a linear layer (bias, activation, residual add), the graph's activation
// and add ops.
#pragma once
#include <cstdint>
#include <string>

#include "core/epilogue.hpp"
#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

// output = epilogue(input + bias): the activation and the residual in the
// epilogue's order, computed in fp32 and rounded once. bias [cols] is
// optional; residual [rows, cols] is given exactly when epilogue.residual.
// This is also the part of a linear layer's epilogue cuBLASLt cannot run.
// output may alias input or residual.
struct BiasActivationParams {
  DType dtype = DType::f32;  // of every tensor below
  int64_t rows = 0, cols = 0;
  const void* input = nullptr;
  const void* bias = nullptr;
  Epilogue epilogue;
  const void* residual = nullptr;
  void* output = nullptr;
  void* stream = nullptr;  // cudaStream_t
};

bool can_implement(const BiasActivationParams& p, std::string* why);
void bias_activation(const BiasActivationParams& p);

}  // namespace visionrt::kernels
