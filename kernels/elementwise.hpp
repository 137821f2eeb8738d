// Element-wise GPU kernels on row-major [rows, cols] tensors: the epilogue of
// a linear layer (bias, activation, residual add) and a row softmax.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

// gelu_erf is nn.GELU()'s exact form, gelu_tanh its approximate='tanh' one.
enum class Activation { none, gelu_erf, gelu_tanh, relu, sigmoid };

// output = activation(input + bias) + residual, computed in fp32 and rounded
// once. bias [cols] and residual [rows, cols] are optional, so this is
// bias + an activation, bias + residual, or all three fused; it is also the
// part of a linear layer's epilogue cuBLASLt cannot run.
// output may alias input or residual.
struct BiasActivationParams {
  DType dtype = DType::f32;  // of every tensor below
  int64_t rows = 0, cols = 0;
  const void* input = nullptr;
  const void* bias = nullptr;
  Activation activation = Activation::none;
  const void* residual = nullptr;
  void* output = nullptr;
  void* stream = nullptr;  // cudaStream_t
};

bool can_implement(const BiasActivationParams& p, std::string* why);
void bias_activation(const BiasActivationParams& p);

// Softmax of every row, statistics in fp32. -inf entries get probability 0; a
// row that is -inf throughout comes out as zeros rather than NaN.
// output may alias input.
struct SoftmaxParams {
  DType dtype = DType::f32;
  int64_t rows = 0, cols = 0;
  const void* input = nullptr;
  void* output = nullptr;
  void* stream = nullptr;  // cudaStream_t
};

bool can_implement(const SoftmaxParams& p, std::string* why);
void softmax(const SoftmaxParams& p);

}  // namespace visionrt::kernels
