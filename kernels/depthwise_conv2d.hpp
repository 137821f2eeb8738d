// Depthwise convolution of NHWC activations (groups == channels: each
// channel convolved with its own kh x kw filter), as HGNetV2's depthwise
// layers (Conv2d(C, C, k, stride, (k - 1) // 2, groups=C)) and the CPU
// backend's depthwise conv2d compute it, with conv2d's epilogue:
//
//   conv[n, oy, ox, c] = sum over ky, kx of
//       x[n, oy*stride - pad + ky*dilation, ox*stride - pad + kx*dilation, c] * w[c, ky, kx]
//   act_then_residual: out = act(conv + bias) + residual
//   residual_then_act: out = act(conv + bias + residual)
//
// x [N, H, W, C], out [N, Ho, Wo, C], the weight [C, kh, kw] (the graph's
// conv2d weight [C, kh, kw, 1]), bias [C], the optional residual
// [N, Ho, Wo, C]; taps in the padding read zero; Ho = (H + 2 pad -
// dilation (kh - 1) - 1) / stride + 1, Wo likewise. The activation is ReLU
// or none, as for conv2d_cudnn. Sums, bias and residual in fp32, rounded
// once to the dtype; no cuDNN, no workspace, deterministic.
#pragma once
#include <cstdint>
#include <string>

#include "core/epilogue.hpp"
#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct DepthwiseConv2dParams {
  DType dtype = DType::f32;  // of every tensor below
  int64_t batch = 0, height = 0, width = 0, channels = 0;
  int kernel_h = 0, kernel_w = 0;
  int stride = 1, pad = 0, dilation = 1;  // the same on both axes
  // After the bias: ReLU or none, a residual in either order;
  // epilogue.residual set exactly when `residual` is given.
  Epilogue epilogue;
  const void* input = nullptr;     // [batch, height, width, channels]
  const void* weight = nullptr;    // [channels, kernel_h, kernel_w]
  const void* bias = nullptr;      // [channels]
  const void* residual = nullptr;  // [batch, out_h, out_w, channels] or null
  void* output = nullptr;          // [batch, out_h, out_w, channels]; overlaps no other tensor
  void* stream = nullptr;          // cudaStream_t
};

// Output length along an axis of `in` elements; 0 when not one window fits
// (or a bad stride, dilation, kernel or pad).
int64_t depthwise_conv2d_out_size(int64_t in, int kernel, int stride, int pad, int dilation);

// Refuses unknown types, activations other than ReLU and none, an unknown
// residual order, a residual given without epilogue.residual or the other
// way round, bad sizes, windows, strides, dilations or pads, an input the
// window does not fit, tensors past 2^31 elements, null pointers and an
// output overlapping any input.
bool can_implement(const DepthwiseConv2dParams& p, std::string* why);

// Enqueues the convolution and its epilogue on p.stream; throws
// visionrt::Error: unsupported when can_implement refuses p, device_error
// when the launch fails.
void depthwise_conv2d(const DepthwiseConv2dParams& p);

}  // namespace visionrt::kernels
