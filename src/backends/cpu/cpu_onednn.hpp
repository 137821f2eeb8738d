// linear and conv2d on oneDNN primitives (cpu_onednn.cpp); present in
// builds with oneDNN, where the CPU kernel table uses them.
#pragma once
#include "runtime/backend.hpp"

namespace visionrt::cpu {

// F32 operands, or BF16 ones (the _bf16 pair) with F32 accumulation.
size_t onednn_workspace(const NodeSignature& sig, int threads);
size_t onednn_workspace_bf16(const NodeSignature& sig, int threads);
void* onednn_prepare(const NodeSignature& sig);
void* onednn_prepare_bf16(const NodeSignature& sig);
void onednn_release(void* state) noexcept;
void onednn_run(const KernelArgs& a);

}  // namespace visionrt::cpu
