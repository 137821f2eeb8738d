// The element-wise kernel: the bias/activation/residual epilogue, 16-byte
// vectors when the width and pointers allow, one element at a time otherwise.
#include <algorithm>
#include <cmath>

#include "kernels/cuda_common.cuh"
#include "kernels/elementwise.hpp"

namespace visionrt::kernels {
namespace {

struct EpilogueArgs {
  const void* input;
  const void* bias;
  const void* residual;
  void* output;
  int64_t cols;
  int64_t count;  // elements, or 16-byte vectors in the vector kernel
  Activation activation;
  bool residual_first;  // residual added before the activation
};

constexpr int kThreads = 256;

// The formulas of the graph's activations, as the CPU backend computes them.
__device__ __forceinline__ float activate(Activation act, float x) {
  switch (act) {
    case Activation::none: return x;
    case Activation::gelu_erf: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));  // x * Phi(x)
    case Activation::gelu_tanh:
      return 0.5f * x * (1.f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case Activation::relu: return fmaxf(x, 0.f);
    case Activation::sigmoid: return 1.f / (1.f + expf(-x));
    case Activation::silu: return x / (1.f + expf(-x));
  }
  return x;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) bias_activation_kernel(const EpilogueArgs a) {
  const T* x = static_cast<const T*>(a.input);
  const T* bias = static_cast<const T*>(a.bias);
  const T* res = static_cast<const T*>(a.residual);
  T* y = static_cast<T*>(a.output);
  for (int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x; i < a.count;
       i += int64_t(gridDim.x) * kThreads) {
    float v = to_float(x[i]);
    if (bias) v += to_float(bias[i % a.cols]);
    if (res && a.residual_first) v += to_float(res[i]);
    v = activate(a.activation, v);
    if (res && !a.residual_first) v += to_float(res[i]);
    y[i] = from_float<T>(v);
  }
}

// Same, 16 bytes at a time: cols is a multiple of the vector width, so a
// vector never straddles two rows and its bias slice is contiguous.
template <typename T>
__global__ void __launch_bounds__(kThreads) bias_activation_vec_kernel(const EpilogueArgs a) {
  constexpr int E = kVec16<T>;
  const T* x = static_cast<const T*>(a.input);
  const T* bias = static_cast<const T*>(a.bias);
  const T* res = static_cast<const T*>(a.residual);
  T* y = static_cast<T*>(a.output);
  for (int64_t vec = blockIdx.x * int64_t(kThreads) + threadIdx.x; vec < a.count;
       vec += int64_t(gridDim.x) * kThreads) {
    const int64_t i = vec * E;
    float v[E];
    load_vec16(x + i, v);
    if (bias) {
      float b[E];
      load_vec16(bias + i % a.cols, b);
#pragma unroll
      for (int j = 0; j < E; ++j) v[j] += b[j];
    }
    float r[E] = {};
    if (res) load_vec16(res + i, r);
#pragma unroll
    for (int j = 0; j < E; ++j)
      v[j] = a.residual_first ? activate(a.activation, v[j] + r[j]) : activate(a.activation, v[j]) + r[j];
    store_vec16(y + i, v);
  }
}

}  // namespace

bool can_implement(const BiasActivationParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.rows >= 0 && p.cols >= 1, "bad shape [", p.rows, ", ", p.cols, "]");
  req.require(p.input && p.output, "null input or output");
  req.require(p.epilogue.act >= Activation::none && p.epilogue.act <= Activation::silu, "unknown activation");
  req.require(p.epilogue.residual == (p.residual != nullptr),
              p.epilogue.residual ? "the epilogue adds a residual but none was given"
                                  : "a residual was given to an epilogue without one");
  return req.ok;
}

void bias_activation(const BiasActivationParams& p) {
  require_implementable(p, "bias_activation");
  const int64_t count = p.rows * p.cols;
  if (count == 0) return;
  const int64_t vec = 16 / int64_t(dtype_size(p.dtype));
  const bool vectorised = p.cols % vec == 0 && is_aligned16(p.input) && is_aligned16(p.output) &&
                          is_aligned16(p.bias) && is_aligned16(p.residual);
  EpilogueArgs a{p.input,  p.bias, p.residual,       p.output,
                 p.cols,   count,  p.epilogue.act, p.epilogue.residual_first()};
  const cudaStream_t stream = as_stream(p.stream);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (vectorised) {
      a.count = count / vec;
      bias_activation_vec_kernel<T><<<grid_stride_blocks(a.count, kThreads), kThreads, 0, stream>>>(a);
    } else {
      bias_activation_kernel<T><<<grid_stride_blocks(a.count, kThreads), kThreads, 0, stream>>>(a);
    }
  });
  check_launch("bias_activation kernel launch");
}

}  // namespace visionrt::kernels
