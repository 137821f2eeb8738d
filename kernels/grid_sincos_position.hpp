// RT-DETR's fixed 2-D sine-cosine position embedding of its encoder's grid
// (build_2d_sincos_position_embedding), as the CPU backend's
// grid_sincos_position computes it: for cell s = y * width + x of the grid,
// with F = dim / 4 and w_i = temperature^(-i / F),
//   out[n, s, i]       = sin(y w_i)     out[n, s, F + i]     = cos(y w_i)
//   out[n, s, 2F + i]  = sin(x w_i)     out[n, s, 3F + i]    = cos(x w_i)
// the same for every image n. Computed in double, as the CPU builds it, then
// rounded once to the dtype: the arguments reach a few hundred radians,
// where an fp32 argument alone would be off by ~1e-5.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct GridSincosPositionParams {
  DType dtype = DType::f32;  // of the output
  int64_t batch = 0;
  int height = 0, width = 0;  // the grid
  int64_t dim = 0;            // a multiple of 4
  float temperature = 10000.f;
  void* output = nullptr;  // [batch, height * width, dim]
  void* stream = nullptr;  // cudaStream_t
};

// Refuses unknown types, an empty grid, dim not a positive multiple of 4, a
// temperature not finite and above 0, an output past 2^40 bytes and a null
// output.
bool can_implement(const GridSincosPositionParams& p, std::string* why);

// Enqueues the embedding on p.stream; throws visionrt::Error (unsupported,
// device_error) like every launcher here.
void grid_sincos_position(const GridSincosPositionParams& p);

}  // namespace visionrt::kernels
