// CPU attention kernels: the tiled online-softmax kernel, built per
// instruction set (isa/attention_tiled.inc) and picked at run time, and the
// plain scalar one it is checked against, which also runs head widths no
// vector width divides.
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime/backend.hpp"
#include "backends/cpu/isa/cpu_isa.hpp"

namespace visionrt::cpu {

// The ISA attention runs on for this head width: the widest supported one
// whose vector width divides it; nullopt-like Isa::portable with
// `scalar` set when even 4 floats do not divide it.
struct AttentionPath {
  Isa isa;
  bool scalar;
};
AttentionPath attention_path(int64_t head_dim, Isa widest);

// Runs `path` (tests force each one the CPU supports).
void attention_on(const AttentionPath& path, const KernelArgs& a);
void attention_scalar(const KernelArgs& a);

}  // namespace visionrt::cpu
