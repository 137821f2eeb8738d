// The op table: every op registered once with its name, input count, shape
// rule and dtype rule. Backends own the functions that run ops (their kernel
// tables, backends/*); the graph knows only what an op computes.
#pragma once
#include <cstddef>
#include <vector>

#include "core/tensor.hpp"
#include "graph/graph.hpp"

namespace visionrt::graph {

// Where an op's output dtype comes from. compute: the graph's compute
// dtype, which no input carries (sine_position's only input is an F32
// mask): the precision pass writes it into attrs.dtype.
enum class OutDType : uint8_t { like_input, from_attrs, f32, compute };

// Floating-point operations of one node, two per multiply-add of its
// matrix products; null for ops that count none (element-wise and data
// movement: memory-bound and small).
using FlopsRule = double (*)(const std::vector<const Shape*>& in, const Shape& out, const Attrs& attrs);

struct OpDef {
  const char* name;
  int min_inputs, max_inputs;
  Shape (*infer)(const std::vector<const Shape*>& in, const Attrs& attrs);
  // The dtype rule: inputs whose bit is set here are F32 whatever the
  // compute dtype (masks); every other input has the dtype of input 0.
  unsigned f32_inputs;
  OutDType out_dtype;
  // False for ops that only convert (cast): their input is any dtype.
  bool same_dtype_inputs;
  FlopsRule flops;
  // Whether the fusion pass may fold an add and an activation after it
  // into it (Attrs::epilogue and a fourth, residual input).
  bool takes_epilogue;
};

const OpDef& op_def(Op op);

// The dtype the rule gives the output; throws shape_mismatch naming the op
// when an input breaks it.
DType infer_dtype(Op op, const std::vector<DType>& in, const Attrs& attrs);

// The dtype input `slot` of an op must have when the graph computes in `compute`.
inline DType input_dtype(const OpDef& def, int slot, DType compute) {
  return (def.f32_inputs >> slot) & 1u ? DType::f32 : compute;
}

// Output length of a convolution or pooling window along one axis.
inline int64_t conv_out_size(int64_t in, int64_t kernel, const Attrs& a) {
  const int64_t span = in + 2 * a.pad - a.dilation * (kernel - 1) - 1;
  // No window fits: 0 (division alone truncates -1 / 2 to 0, one window too many).
  return span < 0 ? 0 : span / a.stride + 1;
}

}  // namespace visionrt::graph
