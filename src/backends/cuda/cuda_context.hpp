// What every CUDA kernel of the backend shares: the stream it enqueues on,
// the library handles and the run's precision. KernelArgs::context and
// NodeSignature::backend lead to it.
#pragma once
#include <cuda_runtime.h>

#include "backends/backend.hpp"
#include "kernels/conv2d_cudnn.hpp"
#include "kernels/gemm_lt.hpp"
#include "kernels/kernel_types.hpp"
#include "kernels/patch_embed.hpp"

namespace visionrt::cuda {

struct CudaContext {
  cudaStream_t stream = nullptr;
  kernels::BlasHandle blas;  // patch embedding's GEMM
  kernels::LtHandle lt;      // every linear layer's
  kernels::CudnnHandle cudnn;  // the convolutions'; its stream is set per call
  DType compute = DType::f32;
  bool tf32 = false;
};

// Raises visionrt::Error for a failed runtime call: out_of_memory for an
// allocation that did not fit, device_error otherwise.
void check(cudaError_t status, const char* what);

inline kernels::DataType data_type_of(DType t) {
  return t == DType::f16 ? kernels::DataType::f16 : t == DType::bf16 ? kernels::DataType::bf16 : kernels::DataType::f32;
}

// The backend's kernel for a node, or null; DETR's backbone and position
// ops come from cuda_detr_kernel.
const Kernel* cuda_kernel(const NodeSignature& sig);
const Kernel* cuda_detr_kernel(const NodeSignature& sig);

// Which fused epilogues cuBLASLt runs (graph::fuse_epilogues asks).
bool cuda_accepts_epilogue(const graph::Epilogue& e);

}  // namespace visionrt::cuda
