// What every CUDA kernel of the backend shares: the stream it enqueues on,
// the library handles and the run's precision. KernelArgs::context and
// NodeSignature::backend lead to it.
#pragma once
#include <cuda_runtime.h>

#include "backends/backend.hpp"
#include "kernels/gemm_lt.hpp"
#include "kernels/patch_embed.hpp"

namespace visionrt::cuda {

struct CudaContext {
  cudaStream_t stream = nullptr;
  kernels::BlasHandle blas;  // patch embedding's GEMM
  kernels::LtHandle lt;      // every linear layer's
  DType compute = DType::f32;
  bool tf32 = false;
};

// Raises visionrt::Error for a failed runtime call: out_of_memory for an
// allocation that did not fit, device_error otherwise.
void check(cudaError_t status, const char* what);

// The backend's kernel for a node, or null.
const Kernel* cuda_kernel(const NodeSignature& sig);

// Which fused epilogues cuBLASLt runs (graph::fuse_epilogues asks).
bool cuda_accepts_epilogue(const graph::Epilogue& e);

}  // namespace visionrt::cuda
