// Depthwise convolution: a grid-stride loop over output pixels times channel
// groups, so neighbouring threads read neighbouring channels of one input
// pixel (coalesced in NHWC). A group is a 16-byte vector of activations
// when the channel count and the activation pointers allow it, one channel
// otherwise; the weight, a few kilobytes per layer, is read a value at a
// time through the cache. Each thread sums its taps in fp32 and applies the
// epilogue before its one rounding.
#include <algorithm>

#include "kernels/cuda_common.cuh"
#include "kernels/depthwise_conv2d.hpp"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
// Keeps every element index, and the byte counts in can_implement, in range.
constexpr int64_t kMaxElements = int64_t(1) << 31;

struct DepthwiseArgs {
  const void* input;
  const void* weight;
  const void* bias;
  const void* residual;
  void* output;
  int64_t height, width, out_h, out_w;
  int64_t groups;  // channel groups per pixel: channels / E
  int64_t items;   // out pixels * groups
  int kernel_h, kernel_w, stride, pad, dilation;
  bool relu, residual_first;
};

template <typename T, int E>
__global__ void __launch_bounds__(kThreads) depthwise_conv2d_kernel(const DepthwiseArgs a) {
  const T* in = static_cast<const T*>(a.input);
  const T* w = static_cast<const T*>(a.weight);
  const T* bias = static_cast<const T*>(a.bias);
  const T* residual = static_cast<const T*>(a.residual);
  T* out = static_cast<T*>(a.output);
  const int64_t channels = a.groups * E, taps = int64_t(a.kernel_h) * a.kernel_w;
  for (int64_t item = blockIdx.x * int64_t(kThreads) + threadIdx.x; item < a.items;
       item += int64_t(gridDim.x) * kThreads) {
    const int64_t c0 = item % a.groups * E, pixel = item / a.groups;
    const int64_t ox = pixel % a.out_w, oy = (pixel / a.out_w) % a.out_h;
    const int64_t n = pixel / (a.out_w * a.out_h);
    float sum[E];
#pragma unroll
    for (int j = 0; j < E; ++j) sum[j] = 0.f;
    for (int ky = 0; ky < a.kernel_h; ++ky) {
      const int64_t iy = oy * a.stride - a.pad + int64_t(ky) * a.dilation;
      if (iy < 0 || iy >= a.height) continue;
      for (int kx = 0; kx < a.kernel_w; ++kx) {
        const int64_t ix = ox * a.stride - a.pad + int64_t(kx) * a.dilation;
        if (ix < 0 || ix >= a.width) continue;
        float v[E];
        load_items<T, E>(in + ((n * a.height + iy) * a.width + ix) * channels + c0, v);
        const int64_t tap = int64_t(ky) * a.kernel_w + kx;
#pragma unroll
        for (int j = 0; j < E; ++j) sum[j] += v[j] * to_float(w[(c0 + j) * taps + tap]);
      }
    }
    float b[E], r[E];
    load_items<T, E>(bias + c0, b);
    if (residual) load_items<T, E>(residual + item * E, r);
#pragma unroll
    for (int j = 0; j < E; ++j) {
      float t = sum[j] + b[j];
      if (residual && a.residual_first) t += r[j];
      if (a.relu) t = fmaxf(t, 0.f);
      if (residual && !a.residual_first) t += r[j];
      sum[j] = t;
    }
    store_items<T, E>(out + item * E, sum);
  }
}

}  // namespace

int64_t depthwise_conv2d_out_size(int64_t in, int kernel, int stride, int pad, int dilation) {
  if (stride < 1 || dilation < 1 || kernel < 1 || pad < 0) return 0;
  // C++ division truncates toward zero: a negative room must not reach it.
  const int64_t room = in + 2 * int64_t(pad) - int64_t(dilation) * (kernel - 1) - 1;
  return room >= 0 ? room / stride + 1 : 0;
}

bool can_implement(const DepthwiseConv2dParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.epilogue.act == Activation::none || p.epilogue.act == Activation::relu, "no activation ",
              static_cast<int>(p.epilogue.act), " (ReLU or none)");
  req.require(p.epilogue.order == ResidualOrder::act_then_residual ||
                  p.epilogue.order == ResidualOrder::residual_then_act,
              "unknown residual order ", static_cast<int>(p.epilogue.order));
  req.require(p.epilogue.residual == (p.residual != nullptr),
              p.epilogue.residual ? "the epilogue adds a residual but none was given"
                                  : "a residual was given but the epilogue has none");
  req.require(p.batch >= 0 && p.height >= 1 && p.width >= 1 && p.channels >= 1, "bad shape [", p.batch, ", ",
              p.height, ", ", p.width, ", ", p.channels, "]");
  req.require(p.kernel_h >= 1 && p.kernel_w >= 1 && p.stride >= 1 && p.dilation >= 1 && p.pad >= 0,
              "bad window: kernel ", p.kernel_h, "x", p.kernel_w, ", stride ", p.stride, ", dilation ",
              p.dilation, ", pad ", p.pad);
  req.require(p.input && p.weight && p.bias && p.output, "null input, weight, bias or output");
  if (!req.ok) return false;
  for (int64_t v : {p.height, p.width, p.channels, int64_t(p.kernel_h), int64_t(p.kernel_w), int64_t(p.pad)})
    req.require(v < kMaxElements, "sizes must stay below 2^31, not ", v);
  if (!req.ok) return false;
  const int64_t out_h = depthwise_conv2d_out_size(p.height, p.kernel_h, p.stride, p.pad, p.dilation);
  const int64_t out_w = depthwise_conv2d_out_size(p.width, p.kernel_w, p.stride, p.pad, p.dilation);
  req.require(out_h >= 1 && out_w >= 1, "a ", p.kernel_h, "x", p.kernel_w, " kernel with dilation ", p.dilation,
              " and pad ", p.pad, " does not fit a ", p.height, "x", p.width, " input");
  if (!req.ok) return false;
  const int64_t batch = std::max<int64_t>(p.batch, 1);
  const int64_t pixels_limit = kMaxElements / p.channels / batch;
  req.require(p.height <= pixels_limit / p.width && out_h <= pixels_limit / out_w &&
                  int64_t(p.kernel_h) * p.kernel_w <= kMaxElements / p.channels,
              "tensors of ", p.batch, " x ", p.height, " x ", p.width, " x ", p.channels,
              " elements are too large");
  if (!req.ok) return false;
  const uint64_t esize = dtype_size(p.dtype);
  const uint64_t out_bytes = uint64_t(p.batch * out_h * out_w * p.channels) * esize;
  req.require(!overlaps(p.output, out_bytes, p.input, uint64_t(p.batch * p.height * p.width * p.channels) * esize) &&
                  !overlaps(p.output, out_bytes, p.weight,
                            uint64_t(int64_t(p.kernel_h) * p.kernel_w * p.channels) * esize) &&
                  !overlaps(p.output, out_bytes, p.bias, uint64_t(p.channels) * esize) &&
                  !(p.residual && overlaps(p.output, out_bytes, p.residual, out_bytes)),
              "output overlaps an input");
  return req.ok;
}

void depthwise_conv2d(const DepthwiseConv2dParams& p) {
  require_implementable(p, "depthwise_conv2d");
  const int64_t out_h = depthwise_conv2d_out_size(p.height, p.kernel_h, p.stride, p.pad, p.dilation);
  const int64_t out_w = depthwise_conv2d_out_size(p.width, p.kernel_w, p.stride, p.pad, p.dilation);
  const int64_t pixels = p.batch * out_h * out_w;
  if (pixels == 0) return;
  const int64_t vec = 16 / int64_t(dtype_size(p.dtype));
  const bool vectorised = p.channels % vec == 0 && is_aligned16(p.input) && is_aligned16(p.output) &&
                          is_aligned16(p.bias) && (!p.residual || is_aligned16(p.residual));
  DepthwiseArgs a{p.input, p.weight, p.bias, p.residual, p.output, p.height, p.width, out_h, out_w, 0, 0,
                  p.kernel_h, p.kernel_w, p.stride, p.pad, p.dilation, p.epilogue.act == Activation::relu,
                  p.epilogue.residual_first()};
  const cudaStream_t stream = as_stream(p.stream);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    a.groups = vectorised ? p.channels / vec : p.channels;
    a.items = pixels * a.groups;
    const unsigned blocks = grid_stride_blocks(a.items, kThreads);
    if (vectorised) {
      depthwise_conv2d_kernel<T, kVec16<T>><<<blocks, kThreads, 0, stream>>>(a);
    } else {
      depthwise_conv2d_kernel<T, 1><<<blocks, kThreads, 0, stream>>>(a);
    }
  });
  check_launch("depthwise_conv2d kernel launch");
}

}  // namespace visionrt::kernels
