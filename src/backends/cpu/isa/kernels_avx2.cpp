// visionrt's own CPU kernels for AVX2 with FMA (8 floats a vector); CMakeLists.txt
// sets this file's instruction-set flags.
#define VRT_ISA avx2
#define VRT_WIDTH 8
#include "backends/cpu/isa/vector.inc"
#include "backends/cpu/isa/attention_tiled.inc"
#include "backends/cpu/isa/layer_norm.inc"
