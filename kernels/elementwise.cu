// Element-wise kernels: the bias/activation/residual epilogue (16-byte vectors
// when the width and pointers allow, one element at a time otherwise) and a
// one-warp-per-row softmax with an online max and sum.
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
    v = activate(a.activation, v);
    if (res) v += to_float(res[i]);
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
#pragma unroll
    for (int j = 0; j < E; ++j) v[j] = activate(a.activation, v[j]);
    if (res) {
      float r[E];
      load_vec16(res + i, r);
#pragma unroll
      for (int j = 0; j < E; ++j) v[j] += r[j];
    }
    store_vec16(y + i, v);
  }
}

// Running softmax statistics: max m and sum s of exp(x - m). m = -inf means
// nothing but -inf seen so far, and then s = 0.
struct MaxSum {
  float m, s;
};

__device__ __forceinline__ MaxSum combine(MaxSum a, MaxSum b) {
  const float m = fmaxf(a.m, b.m);
  if (m == -INFINITY) return {m, 0.f};
  return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

constexpr int kSoftmaxWarps = 4;

template <typename T>
__global__ void __launch_bounds__(32 * kSoftmaxWarps) softmax_kernel(const T* in, T* out, int64_t rows,
                                                                    int64_t cols) {
  const int lane = threadIdx.x % 32;
  const int64_t row = int64_t(blockIdx.x) * kSoftmaxWarps + threadIdx.x / 32;
  if (row >= rows) return;  // whole warps leave together
  const T* x = in + row * cols;
  T* y = out + row * cols;
  MaxSum st{-INFINITY, 0.f};
  for (int64_t c = lane; c < cols; c += 32) st = combine(st, MaxSum{to_float(x[c]), 1.f});
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    const MaxSum other{__shfl_xor_sync(0xffffffffu, st.m, offset),
                       __shfl_xor_sync(0xffffffffu, st.s, offset)};
    st = combine(st, other);
  }
  // Each lane rewrites exactly the elements it read, so out may alias in.
  const float inv = st.m == -INFINITY ? 0.f : 1.f / st.s;
  for (int64_t c = lane; c < cols; c += 32)
    y[c] = from_float<T>(st.m == -INFINITY ? 0.f : expf(to_float(x[c]) - st.m) * inv);
}


}  // namespace

bool can_implement(const BiasActivationParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.rows >= 0 && p.cols >= 1, "bad shape [", p.rows, ", ", p.cols, "]");
  req.require(p.input && p.output, "null input or output");
  req.require(p.activation >= Activation::none && p.activation <= Activation::sigmoid, "unknown activation");
  return req.ok;
}

void bias_activation(const BiasActivationParams& p) {
  require_implementable(p, "bias_activation");
  const int64_t count = p.rows * p.cols;
  if (count == 0) return;
  const int64_t vec = 16 / int64_t(dtype_size(p.dtype));
  const bool vectorised = p.cols % vec == 0 && is_aligned16(p.input) && is_aligned16(p.output) &&
                          is_aligned16(p.bias) && is_aligned16(p.residual);
  EpilogueArgs a{p.input, p.bias, p.residual, p.output, p.cols, count, p.activation};
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

bool can_implement(const SoftmaxParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.rows >= 0 && p.cols >= 1, "bad shape [", p.rows, ", ", p.cols, "]");
  req.require(p.rows / kSoftmaxWarps < 0x7fffffff, "too many rows: ", p.rows);
  req.require(p.input && p.output, "null input or output");
  return req.ok;
}

void softmax(const SoftmaxParams& p) {
  require_implementable(p, "softmax");
  if (p.rows == 0) return;
  const unsigned blocks = unsigned((p.rows + kSoftmaxWarps - 1) / kSoftmaxWarps);
  const cudaStream_t stream = as_stream(p.stream);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    softmax_kernel<T><<<blocks, 32 * kSoftmaxWarps, 0, stream>>>(
        static_cast<const T*>(p.input), static_cast<T*>(p.output), p.rows, p.cols);
  });
  check_launch("softmax kernel launch");
}

}  // namespace visionrt::kernels
