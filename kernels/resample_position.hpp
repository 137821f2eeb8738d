// ViT position-table resampling on the GPU, as transformers'
// interpolate_pos_encoding and the CPU backend's resample_position: an
// [in_h * in_w, dim] table of patch positions, read as an in_h x in_w grid
// of dim channels, is resized to out_h x out_w by PyTorch's
// upsample_bicubic2d (A = -0.75, align_corners=False: source coordinate
// scale * (o + 0.5) - 0.5 in fp32, not clamped before the floor, tap indices
// clamped to the grid); or, with antialias, by torch's antialiased bicubic
// (A = -0.5, support 2 * max(1, in/out), weights normalised to sum 1, the
// width pass before the height pass).
// Computed in fp32, rounded once to the data type.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct ResamplePositionParams {
  DType dtype = DType::f32;  // of input and output
  int in_h = 0, in_w = 0;          // grid of the input table
  int out_h = 0, out_w = 0;        // grid of the output table
  int64_t dim = 0;
  bool antialias = false;
  const void* input = nullptr;  // [in_h * in_w, dim]
  void* output = nullptr;       // [out_h * out_w, dim]; must not overlap the input
  void* stream = nullptr;       // cudaStream_t
};

bool can_implement(const ResamplePositionParams& p, std::string* why);

// Enqueues the resampling on p.stream; throws visionrt::Error: unsupported
// when can_implement refuses p, device_error when the launch fails.
void resample_position(const ResamplePositionParams& p);

}  // namespace visionrt::kernels
