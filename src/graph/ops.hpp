// The op table: every op registered once with its name, shape rule, scratch
// needs and one function per backend (null where a backend lacks it).
#pragma once
#include <cstddef>
#include <vector>

#include "core/tensor.hpp"
#include "graph/graph.hpp"

namespace visionrt {
class ThreadPool;
}

namespace visionrt::graph {

// What an op function receives: its node, input and output tensors (on the
// backend's device), scratch memory planned ahead, and the backend's context.
struct OpArgs {
  const Node* node = nullptr;
  const Tensor* in[4] = {nullptr, nullptr, nullptr, nullptr};  // null: optional input absent
  int num_inputs = 0;
  Tensor out;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  ThreadPool* pool = nullptr;  // CPU
  void* stream = nullptr;      // CUDA: cudaStream_t
};

using OpFn = void (*)(const OpArgs&);

struct OpDef {
  const char* name;
  int min_inputs, max_inputs;
  Shape (*infer)(const std::vector<const Shape*>& in, const Attrs& attrs);
  // Scratch bytes the op needs for these shapes on the CPU; null = none.
  size_t (*cpu_workspace)(const std::vector<const Shape*>& in, const Attrs& attrs, int threads);
  OpFn cpu;
  OpFn cuda;
};

const OpDef& op_def(Op op);

// Output length of a convolution or pooling window along one axis.
inline int64_t conv_out_size(int64_t in, int64_t kernel, const Attrs& a) {
  return (in + 2 * a.pad - a.dilation * (kernel - 1) - 1) / a.stride + 1;
}

}  // namespace visionrt::graph
