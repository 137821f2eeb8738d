// ViT patch embedding on the GPU: the stride-P, PxP convolution as im2col plus
// one cuBLAS GEMM, with the bias, an optional class token and optional
// position embeddings folded in:
//   output[n, cls + t, :] = W . patch_t(image n) + bias + pos[cls + t]
//   output[n, 0, :]       = cls_token + pos[0]            (when cls is set)
// Patches are taken row-major over a grid of height/P x width/P; pixels past
// the last whole patch are ignored, as in the strided convolution.
#pragma once
#include <cstddef>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

// Owns a cuBLAS handle (created on the current device).
class BlasHandle {
 public:
  BlasHandle();  // throws visionrt::Error(device_error) when cuBLAS cannot start
  ~BlasHandle();
  BlasHandle(const BlasHandle&) = delete;
  BlasHandle& operator=(const BlasHandle&) = delete;
  void* get() const { return handle_; }  // cublasHandle_t

 private:
  void* handle_ = nullptr;
};

struct PatchEmbedParams {
  DType dtype = DType::f32;  // of every tensor below
  int batch = 0, channels = 0, height = 0, width = 0;
  int patch = 0;
  int embed_dim = 0;
  const void* pixels = nullptr;  // [batch, channels, height, width]
  const void* weight = nullptr;  // [embed_dim, channels, patch, patch]
  const void* bias = nullptr;    // optional [embed_dim]
  const void* cls = nullptr;     // optional [embed_dim]: a class token before the patches
  const void* pos = nullptr;     // optional [tokens, embed_dim]
  void* output = nullptr;        // [batch, tokens, embed_dim]; tokens = (cls ? 1 : 0) + patches
  void* workspace = nullptr;     // device scratch of patch_embed_workspace_bytes(p), 256-byte aligned
  size_t workspace_bytes = 0;
  void* blas_handle = nullptr;  // BlasHandle::get(); its stream is set to p.stream
  void* stream = nullptr;       // cudaStream_t
};

// Patches per image and tokens per image for p's geometry.
int patch_count(const PatchEmbedParams& p);
int token_count(const PatchEmbedParams& p);

// The im2col columns and cuBLAS's own scratch (cublasSetWorkspace), so that
// a captured run allocates nothing.
size_t patch_embed_workspace_bytes(const PatchEmbedParams& p);

bool can_implement(const PatchEmbedParams& p, std::string* why);

// Enqueues the patch embedding on p.stream; throws visionrt::Error
// (unsupported, device_error) like every launcher here.
void patch_embed(const PatchEmbedParams& p);

}  // namespace visionrt::kernels
