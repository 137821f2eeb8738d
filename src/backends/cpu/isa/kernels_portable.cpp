// visionrt's own CPU kernels for any x86-64 (SSE2, 4 floats a vector); CMakeLists.txt
// sets this file's instruction-set flags.
#define VRT_ISA portable
#define VRT_WIDTH 4
#include "backends/cpu/isa/isa_kernels.hpp"
#include "backends/cpu/isa/vector.inc"
#include "backends/cpu/isa/attention_tiled.inc"
#include "backends/cpu/isa/layer_norm.inc"
#include "backends/cpu/isa/ms_deform_attn.inc"
#include "backends/cpu/isa/elementwise.inc"
#include "backends/cpu/isa/resample.inc"

namespace visionrt::cpu {
extern const IsaKernels k_portable_kernels = {
    VRT_ISA::attention_tiled,       VRT_ISA::attention_tiled_scratch_floats, VRT_ISA::layer_norm, VRT_ISA::ms_deform_attn,
    VRT_ISA::activate,              VRT_ISA::sine_channels,                  VRT_ISA::resample_vertical_row,
};
}  // namespace visionrt::cpu
