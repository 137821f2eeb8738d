// The convolutions of the CNN backbone on cuDNN, planned once per shape and
// run many times, with the graph's conv2d epilogue:
//
//   conv[n, oy, ox, co] = sum over ky, kx, ci of
//       x[n, oy*stride - pad + ky*dilation, ox*stride - pad + kx*dilation, ci] * w[co, ky, kx, ci]
//   act_then_residual: out = act(conv + bias) + residual
//   residual_then_act: out = act(conv + bias + residual)   (a ResNet block's ReLU)
//
// x [N, H, W, Ci] and out [N, Ho, Wo, Co] are NHWC, the weight [Co, kh, kw, Ci]
// (KRSC), bias [Co], the optional residual [N, Ho, Wo, Co]; taps in the
// padding read zero; Ho = (H + 2 pad - dilation (kh - 1) - 1) / stride + 1,
// Wo likewise. Every tensor has one DType; products accumulate in fp32
// (f32 data: exact fp32, or TF32 tensor cores with ConvShape::tf32).
//
// How it runs (cuDNN 9's graph API, see conv2d_cudnn.cu for why):
//  - fused: when the residual, if any, joins before the activation (or
//    there is no activation), cuDNN runs conv, bias, residual and ReLU as one
//    operation graph, its intermediates in fp32 and one rounding at the end;
//  - otherwise (act_then_residual with ReLU, or no engine takes the fused
//    graph), cuDNN writes the plain convolution to out (rounded to the data
//    type) and an epilogue kernel adds bias, ReLU and residual in the node's
//    order in fp32 and rounds once more. ConvPlan::fused() says which.
//
// Channels: cuDNN's fast NHWC kernels read 16-byte vectors of channels. When
// Ci is not a whole number of them (the ResNet stem's 3 RGB channels), the
// plan pads Ci with zero channels to conv2d_weight_channels() (8 for f16 and
// bf16, 4 for f32): the caller prepares a padded weight once with
// conv2d_prepare_weight(), and each run copies x into a zero-padded
// [N, H, W, Ci'] buffer at the front of the workspace before the
// convolution. The zero channels add exact zeros, so the result is that of
// the unpadded convolution.
//
// Pointers (ConvArgs), checked by can_implement before every run: all
// 16-byte aligned; out overlaps no input (the residual included: the unfused
// path writes out before it reads the residual); the workspace, when the
// plan needs one, 256-byte aligned and at least workspace_bytes().
//
// conv2d_cudnn only enqueues: no device allocation, no synchronisation,
// nothing a CUDA graph capture forbids (the plan, its engine and its
// workspace size are fixed at create; the pointers reach cuDNN through a
// small host descriptor built per run). It sets the handle's stream, so one
// handle must not be used by two threads at once. Run a shape once before
// capturing it, as with any library that may load kernels lazily.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/epilogue.hpp"
#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

// Owns a cuDNN handle (for the device current when it is created).
class CudnnHandle {
 public:
  CudnnHandle();  // throws visionrt::Error(device_error) when cuDNN cannot start
  ~CudnnHandle();
  CudnnHandle(const CudnnHandle&) = delete;
  CudnnHandle& operator=(const CudnnHandle&) = delete;
  void* get() const { return handle_; }  // cudnnHandle_t

 private:
  void* handle_ = nullptr;
};

struct ConvShape {
  DType dtype = DType::f32;  // of x, weight, bias, residual and out
  bool tf32 = false;               // f32 only: TF32 tensor-core products
  int64_t N = 0, H = 0, W = 0, Ci = 0;  // x [N, H, W, Ci]
  int64_t Co = 0, kh = 0, kw = 0;       // weight [Co, kh, kw, Ci]
  int64_t stride = 1, pad = 0, dilation = 1;  // the same on both axes
  // After the bias: ReLU or none, a residual [N, Ho, Wo, Co] in either order.
  Epilogue epilogue;
};

// Output height and width of `s`; 0 when not one window fits (or stride < 1).
int64_t conv2d_out_h(const ConvShape& s);
int64_t conv2d_out_w(const ConvShape& s);

// Input channels of the weight conv2d_cudnn reads: Ci rounded up to a whole
// 16-byte vector when it is not one already (8 for f16/bf16, 4 for f32), else Ci.
int64_t conv2d_weight_channels(const ConvShape& s);

// Bytes of that weight, [Co, kh, kw, conv2d_weight_channels(s)].
size_t conv2d_weight_bytes(const ConvShape& s);

struct ConvArgs {
  const void* x = nullptr;         // [N, H, W, Ci]
  const void* weight = nullptr;    // [Co, kh, kw, conv2d_weight_channels(shape)]
  const void* bias = nullptr;      // [Co]
  const void* residual = nullptr;  // [N, Ho, Wo, Co]; set exactly when shape.epilogue.residual
  void* out = nullptr;             // [N, Ho, Wo, Co]
  void* workspace = nullptr;       // device scratch of at least ConvPlan::workspace_bytes()
  size_t workspace_bytes = 0;
  void* stream = nullptr;  // cudaStream_t
};

// A cuDNN execution plan for one ConvShape on one handle: the operation graph
// (fused or plain), the engine configuration heuristics chose for it and the
// workspace it needs. A run never modifies the plan, so one plan serves every
// layer of its shape. Move-only; the handle must outlive it.
class ConvPlan {
 public:
  ConvPlan();  // empty: valid() is false and conv2d_cudnn refuses it
  ~ConvPlan();
  ConvPlan(ConvPlan&& other) noexcept;
  ConvPlan& operator=(ConvPlan&& other) noexcept;
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;

  // Chooses an engine for `shape` whose workspace, with the padded input
  // copy when Ci is padded, fits in max_workspace_bytes. cudnn_handle is
  // CudnnHandle::get(). Throws visionrt::Error: unsupported (with the reason)
  // when can_implement refuses the shape, the workspace cannot hold the
  // padded input, or cuDNN has no engine for it; out_of_memory or
  // device_error when cuDNN fails.
  static ConvPlan create(const ConvShape& shape, size_t max_workspace_bytes, void* cudnn_handle);

  bool valid() const { return impl_ != nullptr; }
  const ConvShape& shape() const { return shape_; }
  size_t workspace_bytes() const { return workspace_bytes_; }
  // Whether cuDNN applies bias, residual and activation itself (one rounding).
  bool fused() const { return fused_; }

 private:
  friend void conv2d_cudnn(const ConvPlan& plan, const ConvArgs& args);
  struct Impl;  // the cuDNN descriptors (conv2d_cudnn.cu)

  ConvShape shape_{};
  size_t workspace_bytes_ = 0;
  bool fused_ = false;
  std::unique_ptr<Impl> impl_;
};

// Shape rules: a known data type, activation and order; tf32 only with f32;
// every size positive (pad non-negative) and a non-empty output; x, weight
// and out each below 2^31 elements.
bool can_implement(const ConvShape& shape, std::string* why);

// The shape rules plus the pointer rules above, except the workspace.
bool can_implement(const ConvShape& shape, const ConvArgs& args, std::string* why);

// Everything conv2d_cudnn checks: a valid plan, its shape with args, and the workspace.
bool can_implement(const ConvPlan& plan, const ConvArgs& args, std::string* why);

// Writes the weight conv2d_cudnn reads for `shape` into `prepared`
// (conv2d_weight_bytes(shape), 16-byte aligned, not overlapping `weight`):
// the weight [Co, kh, kw, Ci] with zero channels appended up to
// conv2d_weight_channels(shape), or a plain copy when there are none. Run it
// once when the weights are loaded. Enqueued on `stream`; throws
// visionrt::Error (unsupported for a bad shape or pointers, device_error).
void conv2d_prepare_weight(const ConvShape& shape, const void* weight, void* prepared, void* stream);

// Enqueues the convolution and its epilogue on args.stream; throws
// visionrt::Error (unsupported when can_implement refuses, device_error when
// cuDNN or a launch fails).
void conv2d_cudnn(const ConvPlan& plan, const ConvArgs& args);

}  // namespace visionrt::kernels
