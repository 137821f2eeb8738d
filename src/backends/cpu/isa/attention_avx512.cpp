// The tiled attention kernel for AVX-512 (16 floats a vector); CMakeLists.txt
// sets this file's instruction-set flags.
#define VRT_ISA avx512
#define VRT_WIDTH 16
#include "backends/cpu/isa/attention_tiled.inc"
