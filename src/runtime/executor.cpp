#include "runtime/executor.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <optional>

#include "core/error.hpp"
#include "graph/fuse.hpp"
#include "graph/ops.hpp"
#include "graph/precision.hpp"

namespace visionrt::graph {
namespace {

constexpr size_t kAlign = 256;  // keeps every buffer aligned for vector and GPU loads
constexpr size_t kUnplanned = std::numeric_limits<size_t>::max();

size_t aligned(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

size_t value_bytes(const Value& v) {
  return aligned(static_cast<size_t>(shape_numel(v.shape)) * dtype_size(v.dtype));
}

NodeSignature signature(const Graph& g, const Node& n, PreparedWeights* weights, Backend* backend) {
  NodeSignature sig;
  sig.node = &n;
  sig.weights = weights;
  sig.backend = backend;
  for (int v : n.inputs) {
    sig.in_shapes.push_back(&g.value(v).shape);
    sig.in_dtypes.push_back(g.value(v).dtype);
    sig.weight_ids.push_back(g.value(v).kind == ValueKind::weight ? g.value(v).weight : -1);
  }
  sig.out_shape = g.value(n.output).shape;
  sig.out_dtype = g.value(n.output).dtype;
  return sig;
}

std::string dtypes_str(const NodeSignature& sig) {
  std::string s;
  for (DType t : sig.in_dtypes) s += std::string(s.empty() ? "" : ", ") + dtype_name(t);
  return s + " -> " + dtype_name(sig.out_dtype);
}

}  // namespace

Graph lower(Graph graph, const Backend& backend, const ExecutorOptions& options) {
  VRT_CHECK(!graph.lowered(), "the graph passes have run on this graph already");
  if (options.fuse) fuse_epilogues(graph, backend.epilogue_filter());
  Graph lowered = apply_precision(graph, options.precision.value_or(backend.precision()));
  lowered.mark_lowered();
  return lowered;
}

std::string missing_kernel(const Graph& given, Backend& backend, const ExecutorOptions& options) {
  std::optional<Graph> lowered_here;
  if (!given.lowered()) lowered_here = lower(given, backend, options);
  const Graph& graph = lowered_here ? *lowered_here : given;
  for (const Node& n : graph.nodes()) {
    const NodeSignature sig = signature(graph, n, nullptr, &backend);
    const Kernel* k = backend.kernel(sig);
    if (!k || !k->run) return str_cat("'", op_def(n.op).name, "' kernel for ", dtypes_str(sig));
    std::string why;
    if (k->can_implement && !k->can_implement(sig, &why))
      return str_cat("'", op_def(n.op).name, "' kernel for this node (", why, ")");
  }
  return "";
}

size_t MemoryPlan::total_bytes() const { return aligned(arena_bytes) + workspace_bytes; }

MemoryPlan plan_memory(const Graph& g, const std::vector<size_t>& workspace) {
  const auto& nodes = g.nodes();
  const int steps = static_cast<int>(nodes.size());
  const size_t nv = g.values().size();
  std::vector<int> dies(nv, -1);
  for (int s = 0; s < steps; ++s)
    for (int v : nodes[s].inputs) dies[v] = std::max(dies[v], s);
  for (int v : g.outputs()) dies[v] = steps;
  for (int v : g.inputs()) dies[v] = std::max(dies[v], 0);

  MemoryPlan plan;
  plan.offset.assign(nv, kUnplanned);
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
    plan.workspace_bytes = std::max(plan.workspace_bytes, workspace.at(s));
  }
  return plan;
}

Executor::MemoryBlock::~MemoryBlock() {
  if (ptr) backend->release(ptr);
}

Executor::StagingBlock::~StagingBlock() {
  if (ptr) backend->release_staging(ptr);
}
Executor::NodeStates::~NodeStates() {
  for (auto it = states.rbegin(); it != states.rend(); ++it) it->first(it->second);
}

Executor::Executor(Graph graph, std::shared_ptr<Backend> backend, std::shared_ptr<PreparedWeights> weights,
                   const ExecutorOptions& options)
    : graph_(std::move(graph)), backend_(std::move(backend)), weights_(std::move(weights)), capture_(options.capture) {
  backend_->make_current();
  if (!graph_.lowered()) graph_ = lower(std::move(graph_), *backend_, options);
  if (!weights_) weights_ = std::make_shared<PreparedWeights>(backend_, graph_.weights());
  states_.states.reserve(graph_.nodes().size());  // recording a state never throws
  VRT_CHECK(&weights_->table() == graph_.weights().get(), "prepared weights of another model");

  const auto& nodes = graph_.nodes();
  std::vector<NodeSignature> sigs;
  std::vector<const Kernel*> kernels;
  std::vector<size_t> workspace;
  for (const Node& n : nodes) {
    sigs.push_back(signature(graph_, n, weights_.get(), backend_.get()));
    const Kernel* k = backend_->kernel(sigs.back());
    if (!k || !k->run)
      fail(StatusCode::unsupported, "the ", backend_->name(), " backend has no '", op_def(n.op).name,
           "' kernel for ", dtypes_str(sigs.back()));
    std::string why;
    if (k->can_implement && !k->can_implement(sigs.back(), &why))
      fail(StatusCode::unsupported, "the ", backend_->name(), " backend's '", op_def(n.op).name,
           "' kernel cannot run this node: ", why);
    kernels.push_back(k);
    workspace.push_back(k->workspace ? k->workspace(sigs.back(), backend_->threads()) : 0);
  }
  plan_ = plan_memory(graph_, workspace);

  memory_.backend = backend_.get();
  if (options.own_memory) memory_.ptr = backend_->allocate(std::max<size_t>(plan_.total_bytes(), 1));

  // A weight is bound as the backend prepared it when some kernel reads it
  // from its arguments; weights only read from kernels' own state are bound
  // without data, so no plain copy of them is kept.
  std::vector<char> read_plain(graph_.values().size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i)
    for (size_t k = 0; k < nodes[i].inputs.size(); ++k)
      if (!((kernels[i]->weights_in_state >> k) & 1u)) read_plain[nodes[i].inputs[k]] = 1;
  bound_.resize(graph_.values().size());
  for (size_t v = 0; v < graph_.values().size(); ++v) {
    const Value& val = graph_.value(static_cast<int>(v));
    if (val.kind != ValueKind::weight) continue;
    bound_[v] = read_plain[v] ? weights_->get(val.weight, val.dtype) : Tensor::view(val.dtype, val.shape, nullptr);
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    void* state = nullptr;
    if (kernels[i]->prepare) {
      state = kernels[i]->prepare(sigs[i]);
      if (state) states_.states.emplace_back(kernels[i]->release, state);
    }
    Step st{kernels[i]->run, {}};
    st.args.node = &nodes[i];
    st.args.num_inputs = static_cast<int>(nodes[i].inputs.size());
    for (size_t k = 0; k < nodes[i].inputs.size(); ++k) st.args.in[k] = &bound_[nodes[i].inputs[k]];
    st.args.state = state;
    st.args.workspace_bytes = plan_.workspace_bytes;
    backend_->bind_context(st.args);
    steps_.push_back(st);
  }
  if (memory_.ptr) bind_memory(memory_.ptr);
  size_t staging_bytes = 0;
  for (const std::vector<int>* values : {&graph_.inputs(), &graph_.outputs()})
    for (int v : *values) {
      staging_offset_.push_back(staging_bytes);
      staging_bytes += value_bytes(graph_.value(v));
    }
  staging_.backend = backend_.get();
  staging_.ptr = backend_->allocate_staging(std::max<size_t>(staging_bytes, 1));
  pending_outputs_.assign(graph_.outputs().size(), nullptr);
}

Executor::~Executor() = default;

void Executor::bind_memory(void* memory) {
  char* base = static_cast<char*>(memory);
  for (size_t v = 0; v < graph_.values().size(); ++v) {
    const Value& val = graph_.value(static_cast<int>(v));
    if (val.kind != ValueKind::weight && plan_.offset[v] != kUnplanned)
      bound_[v] = Tensor::view(val.dtype, val.shape, base + plan_.offset[v]);
  }
  void* workspace = plan_.workspace_bytes ? base + aligned(plan_.arena_bytes) : nullptr;
  for (Step& s : steps_) {
    s.args.out = bound_[s.args.node->output];
    s.args.workspace = workspace;
  }
  bound_memory_ = true;
  // A captured graph holds the old addresses.
  captured_.reset();
  runs_ = 0;
}

void Executor::enqueue(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs) {
  VRT_CHECK(bound_memory_, "executor run before its memory was bound");
  backend_->make_current();
  VRT_CHECK(inputs.size() == graph_.inputs().size() && outputs.size() == graph_.outputs().size(),
            "executor given the wrong number of inputs or outputs");
  auto check = [&](const Tensor& host, int v) {
    const Value& val = graph_.value(v);
    if (host.dtype() != val.dtype || host.shape() != val.shape || (!host.data() && host.numel()))
      fail(StatusCode::shape_mismatch, "'", val.name, "' is ", dtype_name(val.dtype), " ",
           shape_str(val.shape), ", given ", dtype_name(host.dtype()), " ", shape_str(host.shape()));
  };
  for (size_t i = 0; i < inputs.size(); ++i) check(inputs[i], graph_.inputs()[i]);
  for (size_t i = 0; i < outputs.size(); ++i) check(outputs[i], graph_.outputs()[i]);
  char* staging = static_cast<char*>(staging_.ptr);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = bound_[graph_.inputs()[i]];
    const void* src = inputs[i].data();
    if (staging) {
      std::memcpy(staging + staging_offset_[i], src, t.nbytes());
      src = staging + staging_offset_[i];
    }
    backend_->copy_to_device(t.data(), src, t.nbytes());
  }
  auto launch_steps = [this] {
    for (const Step& s : steps_) s.fn(s.args);
  };
  if (!captured_ && capture_ && runs_ > 0) {
    // A capture that fails (a library that allocates or synchronises inside
    // it, a driver that refuses the graph) leaves runs node by node, which
    // worked on the first run: it is tried once, and said once.
    try {
      captured_ = backend_->capture(launch_steps);
    } catch (const Error& e) {
      capture_notice_ = str_cat("running node by node: capturing the run failed: ", e.what());
    }
    if (!captured_) capture_ = false;  // the backend cannot: node by node from now on
  }
  if (captured_)
    captured_->launch();
  else
    launch_steps();
  ++runs_;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& t = bound_[graph_.outputs()[i]];
    pending_outputs_[i] = outputs[i].data();
    backend_->copy_to_host(staging ? staging + staging_offset_[inputs.size() + i] : outputs[i].data(), t.data(),
                           t.nbytes());
  }
}

void Executor::wait() {
  backend_->synchronize();
  const char* staging = static_cast<const char*>(staging_.ptr);
  if (!staging) return;
  const size_t first_output = graph_.inputs().size();
  for (size_t i = 0; i < pending_outputs_.size(); ++i)
    if (pending_outputs_[i]) {
      std::memcpy(pending_outputs_[i], staging + staging_offset_[first_output + i],
                  bound_[graph_.outputs()[i]].nbytes());
      pending_outputs_[i] = nullptr;
    }
}

}  // namespace visionrt::graph
