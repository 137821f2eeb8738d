// Patch embedding: im2col into the workspace, the output pre-filled with
// bias + position embedding (and the class row), then one strided-batched
// cuBLAS GEMM per call that accumulates W . patch into the token rows (beta = 1).
#include <cublas_v2.h>

#include <algorithm>
#include <limits>

#include "kernels/cuda_common.cuh"
#include "kernels/patch_embed.hpp"

namespace visionrt::kernels {
namespace {

// ALLOC_FAILED is cuBLAS running out of memory, as a caller would want it
// reported; every other failure is the device's.
void check_blas(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  fail(status == CUBLAS_STATUS_ALLOC_FAILED ? StatusCode::out_of_memory : StatusCode::device_error, what,
       " failed: ", cublasGetStatusName(status), " (", cublasGetStatusString(status), ")");
}

constexpr int kThreads = 256;

// cuBLAS's own scratch, given to it from the planned workspace: without one
// it allocates from a stream-ordered pool of its own, which a CUDA graph
// capture records as allocations in the graph. 32 MiB is what cuBLAS asks
// for on Hopper to use every algorithm.
constexpr size_t kBlasWorkspace = size_t(32) << 20;

size_t im2col_bytes(const PatchEmbedParams& p) {
  return size_t(std::max(p.batch, 0)) * size_t(patch_count(p)) * size_t(std::max(p.channels, 0)) *
         size_t(std::max(p.patch, 0)) * size_t(std::max(p.patch, 0)) * dtype_size(p.dtype);
}

// The im2col columns first, then cuBLAS's scratch, 256-byte aligned.
size_t blas_offset(const PatchEmbedParams& p) { return (im2col_bytes(p) + 255) / 256 * 256; }


struct Geometry {
  int64_t channels, height, width, patch, grid_w, patches, k;  // k = channels * patch * patch
};

// cols[n * patches + t][c * P * P + i * P + j] = pixels[n][c][py * P + i][px * P + j],
// the column order of the [D, C, P, P] weight.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    im2col_kernel(const T* pixels, T* cols, Geometry g, int64_t total) {
  for (int64_t idx = blockIdx.x * int64_t(kThreads) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * kThreads) {
    const int64_t row = idx / g.k, k = idx % g.k;
    const int64_t n = row / g.patches, t = row % g.patches;
    const int64_t py = t / g.grid_w, px = t % g.grid_w;
    const int64_t c = k / (g.patch * g.patch), i = (k / g.patch) % g.patch, j = k % g.patch;
    cols[idx] = pixels[((n * g.channels + c) * g.height + py * g.patch + i) * g.width +
                       px * g.patch + j];
  }
}

// output[n][s][d] = bias[d] + pos[s][d] for patch rows, cls[d] + pos[0][d] for
// the class row; absent parts count as zero.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    prefill_kernel(const T* bias, const T* cls, const T* pos, T* out, int64_t tokens, int64_t dim,
                   int64_t total) {
  for (int64_t idx = blockIdx.x * int64_t(kThreads) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * kThreads) {
    const int64_t d = idx % dim, s = (idx / dim) % tokens;
    float v;
    if (cls && s == 0)
      v = to_float(cls[d]);
    else
      v = bias ? to_float(bias[d]) : 0.f;
    if (pos) v += to_float(pos[s * dim + d]);
    out[idx] = from_float<T>(v);
  }
}

cudaDataType_t blas_type(DType t) {
  switch (t) {
    case DType::f32: return CUDA_R_32F;
    case DType::f16: return CUDA_R_16F;
    case DType::bf16: return CUDA_R_16BF;
    default: break;
  }
  fail(StatusCode::internal, "unknown kernel data type ", static_cast<int>(t));
}

}  // namespace

BlasHandle::BlasHandle() {
  cublasHandle_t h = nullptr;
  check_blas(cublasCreate(&h), "cublasCreate");
  handle_ = h;
}

BlasHandle::~BlasHandle() {
  if (handle_) cublasDestroy(static_cast<cublasHandle_t>(handle_));
}

int patch_count(const PatchEmbedParams& p) {
  return p.patch > 0 ? (p.height / p.patch) * (p.width / p.patch) : 0;
}

int token_count(const PatchEmbedParams& p) { return patch_count(p) + (p.cls ? 1 : 0); }

size_t patch_embed_workspace_bytes(const PatchEmbedParams& p) { return blas_offset(p) + kBlasWorkspace; }

bool can_implement(const PatchEmbedParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.batch >= 1 && p.channels >= 1 && p.embed_dim >= 1 && p.patch >= 1,
              "batch, channels, embed_dim and patch must be positive");
  req.require(p.height >= p.patch && p.width >= p.patch, "image ", p.height, "x", p.width,
              " is smaller than one ", p.patch, "x", p.patch, " patch");
  req.require(p.pixels && p.weight && p.output, "null pixels, weight or output");
  req.require(p.blas_handle, "no cuBLAS handle");
  if (!req.ok) return false;
  // cuBLAS takes int sizes and leading dimensions.
  const int64_t k = int64_t(p.channels) * p.patch * p.patch;
  const int64_t int_max = std::numeric_limits<int>::max();
  req.require(k <= int_max && int64_t(p.batch) * patch_count(p) <= int_max,
              "GEMM too large for cuBLAS int sizes");
  req.require(p.workspace && p.workspace_bytes >= patch_embed_workspace_bytes(p), "workspace of ",
              p.workspace_bytes, " bytes, ", patch_embed_workspace_bytes(p), " needed");
  req.require(is_aligned(p.workspace, 256), "workspace must be 256-byte aligned");
  return req.ok;
}

void patch_embed(const PatchEmbedParams& p) {
  require_implementable(p, "patch_embed");
  const cudaStream_t stream = as_stream(p.stream);
  const cublasHandle_t handle = static_cast<cublasHandle_t>(p.blas_handle);
  const int grid_w = p.width / p.patch, patches = patch_count(p), tokens = token_count(p);
  const int k = p.channels * p.patch * p.patch, dim = p.embed_dim;
  const Geometry g{p.channels, p.height, p.width, p.patch, grid_w, patches, k};
  const int64_t col_elems = int64_t(p.batch) * patches * k;
  const int64_t out_elems = int64_t(p.batch) * tokens * dim;

  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    im2col_kernel<T><<<grid_stride_blocks(col_elems, kThreads), kThreads, 0, stream>>>(
        static_cast<const T*>(p.pixels), static_cast<T*>(p.workspace), g, col_elems);
    check_launch("patch_embed im2col kernel launch");
    prefill_kernel<T><<<grid_stride_blocks(out_elems, kThreads), kThreads, 0, stream>>>(
        static_cast<const T*>(p.bias), static_cast<const T*>(p.cls), static_cast<const T*>(p.pos),
        static_cast<T*>(p.output), tokens, dim, out_elems);
    check_launch("patch_embed prefill kernel launch");
  });

  // Row-major out[t][d] += sum_k cols[t][k] * W[d][k] per image is, in
  // cuBLAS's column-major terms, C (dim x patches, ld dim) = W^T-view (op T of
  // the k x dim matrix W, ld k) times cols (k x patches, ld k). One batch
  // entry per image: the weight is shared (stride 0), each image's token rows
  // start `tokens` rows apart, after its class row.
  const size_t esize = dtype_size(p.dtype);
  const cudaDataType_t type = blas_type(p.dtype);
  const float alpha = 1.f, beta = 1.f;
  void* c = static_cast<char*>(p.output) + (p.cls ? size_t(dim) * esize : 0);
  // cublasSetStream resets the workspace to cuBLAS's own pool: set ours after it.
  check_blas(cublasSetStream(handle, stream), "cublasSetStream");
  check_blas(cublasSetWorkspace(handle, static_cast<char*>(p.workspace) + blas_offset(p), kBlasWorkspace),
             "cublasSetWorkspace");
  check_blas(cublasGemmStridedBatchedEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, dim, patches, k, &alpha,
                                        p.weight, type, k, 0, p.workspace, type, k,
                                        int64_t(patches) * k, &beta, c, type, dim,
                                        int64_t(tokens) * dim, p.batch, CUBLAS_COMPUTE_32F,
                                        CUBLAS_GEMM_DEFAULT),
             "patch_embed cublasGemmStridedBatchedEx");
}

}  // namespace visionrt::kernels
