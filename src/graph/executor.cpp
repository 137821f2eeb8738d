#include "graph/executor.hpp"

#include <algorithm>
#include <limits>
#include <map>

#include "core/error.hpp"

namespace visionrt::graph {
namespace {

constexpr size_t kAlign = 256;  // keeps every buffer aligned for vector and GPU loads

size_t aligned(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

size_t value_bytes(const Value& v) { return aligned(static_cast<size_t>(shape_numel(v.shape)) * sizeof(float)); }

}  // namespace

MemoryPlan plan_memory(const Graph& g, const Backend& backend) {
  const auto& nodes = g.nodes();
  const int steps = static_cast<int>(nodes.size());
  const size_t nv = g.values().size();
  std::vector<int> born(nv, -1), dies(nv, -1);
  for (int v : g.inputs()) born[v] = 0;
  for (int s = 0; s < steps; ++s) {
    born[nodes[s].output] = s;
    for (int v : nodes[s].inputs) dies[v] = std::max(dies[v], s);
  }
  for (int v : g.outputs()) dies[v] = steps;
  for (int v : g.inputs()) dies[v] = std::max(dies[v], 0);

  MemoryPlan plan;
  plan.offset.assign(nv, std::numeric_limits<size_t>::max());
  std::multimap<size_t, std::pair<size_t, int>> live;  // offset -> (bytes, dies)
  auto place = [&](int v, int step) {
    for (auto it = live.begin(); it != live.end();)  // free what died before this step
      it = it->second.second < step ? live.erase(it) : std::next(it);
    const size_t bytes = value_bytes(g.value(v));
    size_t at = 0;
    for (const auto& [off, info] : live) {
      if (off >= at + bytes) break;
      at = std::max(at, off + info.first);
    }
    live.emplace(at, std::make_pair(bytes, dies[v]));
    plan.offset[v] = at;
    plan.arena_bytes = std::max(plan.arena_bytes, at + bytes);
  };
  for (int v : g.inputs()) place(v, 0);
  for (int s = 0; s < steps; ++s) {
    place(nodes[s].output, s);
    std::vector<const Shape*> shapes;
    for (int v : nodes[s].inputs) shapes.push_back(&g.value(v).shape);
    plan.workspace_bytes = std::max(
        plan.workspace_bytes, backend.workspace_bytes(op_def(nodes[s].op), shapes, nodes[s].attrs));
  }
  return plan;
}

Executor::Executor(Graph graph, std::shared_ptr<Backend> backend)
    : graph_(std::move(graph)), backend_(std::move(backend)) {
  for (const Node& n : graph_.nodes())
    if (!backend_->function(op_def(n.op)))
      fail(StatusCode::unsupported, "the ", backend_->name(), " backend has no '", op_def(n.op).name, "' op");
  plan_ = plan_memory(graph_, *backend_);
  arena_ = backend_->allocate(std::max<size_t>(plan_.arena_bytes, 1));
  try {
    workspace_ = plan_.workspace_bytes ? backend_->allocate(plan_.workspace_bytes) : nullptr;
  } catch (...) {
    backend_->release(arena_);
    throw;
  }
  bound_.resize(graph_.values().size());
  for (size_t v = 0; v < graph_.values().size(); ++v) {
    const Value& val = graph_.value(static_cast<int>(v));
    if (val.kind == ValueKind::weight) {
      bound_[v] = backend_->adopt_weight(val.weight);
    } else if (plan_.offset[v] != std::numeric_limits<size_t>::max()) {
      bound_[v] = Tensor::view(DType::f32, val.shape, static_cast<char*>(arena_) + plan_.offset[v]);
    }
  }
  for (const Node& n : graph_.nodes()) {
    Step st{backend_->function(op_def(n.op)), {}};
    st.args.node = &n;
    st.args.num_inputs = static_cast<int>(n.inputs.size());
    for (size_t i = 0; i < n.inputs.size(); ++i) st.args.in[i] = &bound_[n.inputs[i]];
    st.args.out = bound_[n.output];
    st.args.workspace = workspace_;
    st.args.workspace_bytes = plan_.workspace_bytes;
    backend_->bind_context(st.args);
    steps_.push_back(st);
  }
}

Executor::~Executor() {
  backend_->release(workspace_);
  backend_->release(arena_);
}

void Executor::run(const std::vector<const float*>& inputs, const std::vector<float*>& outputs) {
  VRT_CHECK(inputs.size() == graph_.inputs().size() && outputs.size() == graph_.outputs().size(),
            "executor given the wrong number of inputs or outputs");
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = bound_[graph_.inputs()[i]];
    backend_->copy_to_device(t.data(), inputs[i], t.nbytes());
  }
  for (const Step& s : steps_) s.fn(s.args);
  backend_->synchronize();
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& t = bound_[graph_.outputs()[i]];
    backend_->copy_to_host(outputs[i], t.data(), t.nbytes());
  }
}

}  // namespace visionrt::graph
