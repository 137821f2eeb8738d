// Fused multi-head attention on the GPU: O = softmax(Q K^T * scale + mask) V
// for every (batch, head), with an online softmax over key tiles so that the
// scores never reach global memory.
//
// Q, K and V are read in place from row-major activations: row (b, s) of Q
// starts at q + (b * q_len + s) * q_row_stride + q_col_offset, and head h is
// the head_dim columns from there at h * head_dim. A fused QKV projection
// output [B, S, 3D] is read with all three pointing at it, row strides 3D and
// column offsets 0, D and 2D. The output is [B, q_len, heads * head_dim] rows
// (out_row_stride apart) and must not overlap Q, K or V.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

// The widest head the kernels hold. The tiled kernels (tensor cores for
// f16/bf16) take multiples of 8 up to 128 with 16-byte aligned rows; every
// other head_dim from 1 up to this, and any other alignment, runs on a
// generic kernel with the same semantics (its registers and shared memory
// set the limit).
constexpr int kMaxHeadDim = 256;

struct AttentionParams {
  DType dtype = DType::f16;  // of Q, K, V and the output
  int batch = 0, heads = 0;
  int head_dim = 0;  // 1 to kMaxHeadDim
  int q_len = 0, kv_len = 0;

  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr;
  // Elements between consecutive rows; 0 means heads * head_dim (packed).
  int64_t q_row_stride = 0, k_row_stride = 0, v_row_stride = 0, out_row_stride = 0;
  // Elements from the start of a row to head 0.
  int64_t q_col_offset = 0, k_col_offset = 0, v_col_offset = 0;

  // Optional key-padding mask [batch, kv_len]: 0 marks a padded key, any
  // other value a real one. Padded keys contribute nothing, whatever their K
  // and V rows hold (NaN and Inf included); a query whose keys are all padded
  // outputs zeros.
  const float* key_mask = nullptr;

  float scale = 0.f;       // 0 means 1 / sqrt(head_dim)
  void* stream = nullptr;  // cudaStream_t
};

// Whether the kernels hold a head of this width: the table asks when the
// model is planned, can_implement again before every launch.
bool supports_head_dim(int head_dim);

// Whether the kernel handles these parameters; if not, *why says what fails.
// Base pointers must be aligned to the element size. The tiled kernels run
// when head_dim is a multiple of 8 up to 128 and every row stride, column
// offset and base pointer is a multiple of 16 bytes; anything else takes the
// slower generic kernel.
bool can_implement(const AttentionParams& p, std::string* why);

// Enqueues the attention on p.stream. Throws visionrt::Error: unsupported when
// can_implement refuses p, device_error when the launch fails.
void mha_flash_tiled(const AttentionParams& p);

}  // namespace visionrt::kernels
