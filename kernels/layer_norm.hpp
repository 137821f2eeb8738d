// LayerNorm over the last dimension of a row-major [rows, cols] tensor on the
// GPU, statistics in fp32 for f32, f16 and bf16 data.
//
// Rows of a width divisible by 16 bytes' worth of elements (8 for f16/bf16,
// 4 for f32), at most 4096 (f16/bf16) or 2048 (f32) wide, with 16-byte
// aligned pointers, run one warp per row with the row in registers. Any other
// width runs a slower one-CTA-per-row kernel that reads the row three times.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct LayerNormParams {
  DType dtype = DType::f32;  // of every tensor below
  int64_t rows = 0, cols = 0;
  const void* input = nullptr;  // [rows, cols]
  const void* gamma = nullptr;  // [cols]
  const void* beta = nullptr;   // [cols]
  void* output = nullptr;       // [rows, cols]; may alias input
  float eps = 1e-5f;               // finite and > 0, so that a constant row divides by no zero
  void* stream = nullptr;  // cudaStream_t
};

bool can_implement(const LayerNormParams& p, std::string* why);

// Whether p takes the one-warp-per-row path (for benchmarks and tests).
bool layer_norm_uses_warp_path(const LayerNormParams& p);

// Enqueues the LayerNorm on p.stream; throws visionrt::Error (unsupported,
// device_error) like every launcher here.
void layer_norm(const LayerNormParams& p);

}  // namespace visionrt::kernels
