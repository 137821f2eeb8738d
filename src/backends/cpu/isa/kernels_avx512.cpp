// visionrt's own CPU kernels for AVX-512 (16 floats a vector); CMakeLists.txt
// sets this file's instruction-set flags.
#define VRT_ISA avx512
#define VRT_WIDTH 16
#include "backends/cpu/isa/vector.inc"
#include "backends/cpu/isa/attention_tiled.inc"
#include "backends/cpu/isa/layer_norm.inc"
