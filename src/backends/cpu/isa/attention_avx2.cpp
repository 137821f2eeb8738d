// The tiled attention kernel for AVX2 with FMA (8 floats a vector); CMakeLists.txt
// sets this file's instruction-set flags.
#define VRT_ISA avx2
#define VRT_WIDTH 8
#include "backends/cpu/isa/attention_tiled.inc"
