// The table of visionrt's own CPU kernels built for one instruction set:
// kernels_<isa>.cpp each fill one from the same sources (*.inc), and
// isa_kernels() hands out the one for an ISA, so callers never switch on it.
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/backend.hpp"
#include "backends/cpu/isa/cpu_isa.hpp"

namespace visionrt::cpu {

struct IsaKernels {
  void (*attention_tiled)(const KernelArgs& a);
  size_t (*attention_tiled_scratch_floats)(int64_t head_dim, int64_t keys);
  void (*layer_norm)(const KernelArgs& a);
  void (*ms_deform_attn)(const KernelArgs& a);
  // out[i] = act(x[i]) for i < n; out may be x.
  void (*activate)(Activation act, const float* x, float* out, int64_t n);
  // o[c] = sin(p / divisor[c]) for even c and cos(p / divisor[c]) for odd c,
  // c < n: one half of DETR's sine position channels.
  void (*sine_channels)(float p, const float* divisor, int64_t n, float* o);
  // Pillow's fixed-point resampling of uint8 values (kResampleBits of
  // fraction, rounded, clipped to 0..255): dst[i] = sum over y < taps of
  // src[y * stride + i] * k[y], for i < n.
  void (*resample_vertical_row)(const uint8_t* src, size_t stride, const int32_t* k, int taps, uint8_t* dst,
                                size_t n);
};

// Fraction bits of the resampling weights: 8 bits of result and 2 of
// headroom for negative lobes and sums above 1 in an int32, as Pillow.
constexpr int kResampleBits = 32 - 8 - 2;

const IsaKernels& isa_kernels(Isa isa);
// On best_isa().
inline const IsaKernels& isa_kernels() { return isa_kernels(best_isa()); }

}  // namespace visionrt::cpu
