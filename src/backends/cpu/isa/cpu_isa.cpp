#include "backends/cpu/isa/cpu_isa.hpp"

namespace visionrt::cpu {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    case Isa::portable: return "portable";
  }
  return "?";
}

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    case Isa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::portable: return true;
  }
  return false;
}

Isa best_isa() {
  static const Isa best = isa_supported(Isa::avx512) ? Isa::avx512
                          : isa_supported(Isa::avx2) ? Isa::avx2
                                                     : Isa::portable;
  return best;
}

}  // namespace visionrt::cpu

#include "backends/cpu/isa/isa_kernels.hpp"

namespace visionrt::cpu {

extern const IsaKernels k_avx512_kernels, k_avx2_kernels, k_portable_kernels;

const IsaKernels& isa_kernels(Isa isa) {
  switch (isa) {
    case Isa::avx512: return k_avx512_kernels;
    case Isa::avx2: return k_avx2_kernels;
    case Isa::portable: break;
  }
  return k_portable_kernels;
}

}  // namespace visionrt::cpu
