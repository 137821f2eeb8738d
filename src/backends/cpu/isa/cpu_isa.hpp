// The instruction sets visionrt's own CPU kernels are built for, and which
// one this CPU runs: chosen at run time, so one build runs on any x86-64.
#pragma once

namespace visionrt::cpu {

enum class Isa { portable, avx2, avx512 };

// Floats in one vector of the ISA.
inline int isa_width(Isa isa) { return isa == Isa::avx512 ? 16 : isa == Isa::avx2 ? 8 : 4; }
const char* isa_name(Isa isa);
bool isa_supported(Isa isa);
// The widest supported ISA.
Isa best_isa();

}  // namespace visionrt::cpu
