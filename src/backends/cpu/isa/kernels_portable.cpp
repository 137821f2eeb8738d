// visionrt's own CPU kernels for any x86-64 (SSE2, 4 floats a vector); CMakeLists.txt
// sets this file's instruction-set flags.
#define VRT_ISA portable
#define VRT_WIDTH 4
#include "backends/cpu/isa/vector.inc"
#include "backends/cpu/isa/attention_tiled.inc"
#include "backends/cpu/isa/layer_norm.inc"
