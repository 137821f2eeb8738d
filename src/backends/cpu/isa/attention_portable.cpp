// The tiled attention kernel for any x86-64 (SSE2, 4 floats a vector); CMakeLists.txt
// sets this file's instruction-set flags.
#define VRT_ISA portable
#define VRT_WIDTH 4
#include "backends/cpu/isa/attention_tiled.inc"
