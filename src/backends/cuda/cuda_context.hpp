// What every CUDA kernel of the backend shares: the stream it enqueues on,
// the library handles and the run's precision. KernelArgs::context and
// NodeSignature::backend lead to it.
#pragma once
#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "runtime/backend.hpp"
#include "kernels/conv2d_cudnn.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/gemm_lt.hpp"
#include "kernels/kernel_types.hpp"
#include "kernels/patch_embed.hpp"

namespace visionrt::cuda {

// cuDNN plans shared by every node of the same convolution shape: a ResNet
// repeats a few shapes many times, and finding a plan (heuristics, then
// finalising engines until one fits) is the slow part of planning DETR.
// Holds them weakly: a plan lives while some executor's node uses it, so
// input sizes a server no longer sees do not keep theirs.
class ConvPlanCache {
 public:
  std::shared_ptr<const kernels::ConvPlan> get(const kernels::ConvShape& shape, size_t max_workspace_bytes,
                                               void* cudnn_handle);

 private:
  std::mutex mu_;
  std::map<std::vector<int64_t>, std::weak_ptr<const kernels::ConvPlan>> plans_;
};

// Members are destroyed in reverse: the plan cache (weak only), the library
// handles, and the stream they were bound to last (CudaStream).
struct CudaStream {
  cudaStream_t stream = nullptr;
  CudaStream();
  ~CudaStream();
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
};

struct CudaContext {
  CudaStream owned_stream;
  cudaStream_t stream = owned_stream.stream;
  kernels::BlasHandle blas;  // patch embedding's GEMM
  kernels::LtHandle lt;      // every linear layer's
  kernels::CudnnHandle cudnn;  // the convolutions'; its stream is set per call
  ConvPlanCache conv_plans;
  PrecisionPolicy precision;
  int device = 0;  // made current by every call that enqueues work
};

// Raises visionrt::Error for a failed runtime call: out_of_memory for an
// allocation that did not fit, device_error otherwise.
void check(cudaError_t status, const char* what);

// The backend's kernel for a node, or null: one table keyed by op, of the
// transformer's kernels (cuda_kernels.cpp), the convolutional backbone's
// and position encoding's (cuda_detr_kernels.cpp, cuda_detr_kernels()) and
// the real-time DETRs' (cuda_rtdetr_kernels.cpp, cuda_rtdetr_kernels()) and
// D-FINE's decoder's (cuda_dfine_kernels.cpp, cuda_dfine_kernels()).
const Kernel* cuda_kernel(const NodeSignature& sig);
std::vector<OpKernel> cuda_detr_kernels();
// conv2d with groups != 1 (cuda_detr_kernels.cpp): depthwise, the rest refused.
const Kernel& cuda_depthwise_conv2d_kernel();
std::vector<OpKernel> cuda_rtdetr_kernels();
std::vector<OpKernel> cuda_dfine_kernels();

// How a linear node's epilogue is split between cuBLASLt and the
// element-wise kernel. cuBLASLt computes act(x W^T + b + C) with act none,
// ReLU or the tanh GELU: a node it cannot express whole (the exact GELU, a
// sigmoid, or a residual added after the activation) gets x W^T + b (plus
// the residual when it joins before the activation) from cuBLASLt, then
// the rest in place from bias_activation.
struct LinearEpilogue {
  Epilogue gemm;             // what cuBLASLt runs after x W^T + b
  bool elementwise = false;  // a second kernel runs after the product
  Epilogue after;            // what that kernel runs
};
LinearEpilogue split_linear_epilogue(const Epilogue& e);

// A node's arguments as a launcher's can_implement sees them when the
// executor is planned, before any memory exists: every tensor, and the
// workspace when the kernel has one, a view of a placeholder address of its
// own, aligned as the memory plan aligns each buffer (256 bytes). No check
// dereferences them.
struct PlannedArgs {
  explicit PlannedArgs(const NodeSignature& sig, size_t workspace_bytes = 0);
  PlannedArgs(const PlannedArgs&) = delete;
  PlannedArgs& operator=(const PlannedArgs&) = delete;
  std::vector<Tensor> in;
  KernelArgs args;
};

using WorkspaceRule = size_t (*)(const NodeSignature& sig, int threads);

// The launcher's own check of the parameters `make` builds from a node's
// arguments, as the table's can_implement: the same function builds them
// when the node runs, so what the planner accepted is what runs. A kernel
// with a workspace rule is checked with the workspace the plan will give it.
template <auto make, WorkspaceRule workspace = nullptr>
bool launcher_accepts(const NodeSignature& sig, std::string* why) {
  size_t bytes = 0;
  if constexpr (workspace != nullptr) bytes = workspace(sig, 1);
  const PlannedArgs planned(sig, bytes);
  return can_implement(make(planned.args), why);  // the launcher's, found by its parameters' namespace
}

// A table entry whose launcher is asked at plan time, with its workspace
// rule when it needs scratch.
template <auto make, WorkspaceRule workspace = nullptr>
Kernel checked_kernel(void (*run)(const KernelArgs&)) {
  Kernel k;
  k.run = run;
  k.workspace = workspace;
  k.can_implement = launcher_accepts<make, workspace>;
  return k;
}

// Which fused epilogues the GPU's linear and conv2d run in their own kernel
// (graph::fuse_epilogues asks).
bool cuda_accepts_epilogue(graph::Op op, const Epilogue& e);

}  // namespace visionrt::cuda
