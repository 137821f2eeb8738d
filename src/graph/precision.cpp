#include "graph/precision.hpp"

#include <map>

#include "core/error.hpp"
#include "graph/ops.hpp"

namespace visionrt::graph {

Graph apply_precision(const Graph& g, const PrecisionPolicy& policy) {
  const DType compute = policy.activations;
  if (compute == DType::f32) return g;
  VRT_CHECK(compute == DType::f16 || compute == DType::bf16, "cannot compute in ",
            dtype_name(compute));
  Graph out(g.weights());
  std::vector<int> map(g.values().size(), -1);
  std::map<std::pair<int, DType>, int> weights, casts;  // (old weight / new value, dtype) -> new value
  for (int v : g.inputs()) {
    const Value& in = g.value(v);
    map[v] = out.add_input(in.name, in.shape, in.dtype);
  }
  auto as = [&](int v, DType want) {
    const Value& old = g.value(v);
    if (old.kind == ValueKind::weight) {
      auto [it, added] = weights.try_emplace({v, want}, -1);
      if (added) {
        it->second = out.add_weight(old.weight);
        out.mutable_value(it->second).dtype = want;
      }
      return it->second;
    }
    const int id = map[v];
    if (out.value(id).dtype == want) return id;
    auto [it, added] = casts.try_emplace({id, want}, -1);
    if (added) {
      Attrs a;
      a.dtype = want;
      it->second = out.add(Op::cast, {id}, a);
    }
    return it->second;
  };
  for (const Node& n : g.nodes()) {
    const OpDef& def = op_def(n.op);
    std::vector<int> in;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const int v = n.inputs[k];
      // A cast takes its input as it is; other ops take the compute dtype,
      // except in the slots their dtype rule holds to F32.
      const DType want = def.same_dtype_inputs ? input_dtype(def, static_cast<int>(k), compute)
                         : g.value(v).kind == ValueKind::weight ? compute
                                                                : out.value(map[v]).dtype;
      in.push_back(as(v, want));
    }
    Attrs attrs = n.attrs;
    if (def.out_dtype == OutDType::compute) attrs.dtype = compute;
    map[n.output] = out.add(n.op, in, attrs);
  }
  for (int v : g.outputs()) out.mark_output(as(v, DType::f32));
  return out;
}

}  // namespace visionrt::graph
