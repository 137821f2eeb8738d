// Runs a graph on a backend. Construction runs the graph passes (fusion,
// then precision) unless the graph is lowered already, picks each node's kernel from the backend's table,
// prepares per-node kernel state, plans memory once (liveness of every
// activation -> offsets in one block) and binds every kernel's arguments;
// enqueue() then only copies inputs in, calls the kernels (or launches them
// as one captured graph) and copies outputs out: it allocates nothing.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/backend.hpp"
#include "graph/graph.hpp"

namespace visionrt::graph {

struct MemoryPlan {
  std::vector<size_t> offset;  // per value; meaningful for inputs and activations
  size_t arena_bytes = 0;      // peak bytes of inputs and activations together
  size_t workspace_bytes = 0;  // the largest scratch any kernel needs
  // One block holds both: the activations, then the scratch.
  size_t total_bytes() const;
};

// Greedy first-fit over value lifetimes: a buffer is reused once the last
// node reading it has run. Outputs stay live to the end. workspace[i] is
// node i's scratch.
MemoryPlan plan_memory(const Graph& g, const std::vector<size_t>& workspace);

struct ExecutorOptions {
  bool fuse = true;  // run the fusion pass (fuse.hpp)
  std::optional<PrecisionPolicy> precision;  // unset: the backend's
  // False: the caller provides the memory block with bind_memory() before
  // running, and may share it between executors that never run at once.
  bool own_memory = true;
  // From the second run on, launch the kernels as one piece of work the
  // backend captured (a CUDA graph) where it can: one launch instead of one
  // per node. The first run goes node by node, so that every library has
  // made its lazy first-call set-up before anything is captured.
  bool capture = true;
};

// The graph passes for `backend`: fusion (with the backend's epilogue
// filter), then precision (with its policy). Run once per graph: the
// result is marked lowered, and an executor given it plans it as it is.
Graph lower(Graph graph, const Backend& backend, const ExecutorOptions& options = {});

// The first node of `graph` (lowered first if it is not) that `backend`
// has no kernel for, as "'op' kernel for dtypes", or one whose kernel
// refuses it (can_implement), saying why; "" when every node has one.
std::string missing_kernel(const Graph& graph, Backend& backend, const ExecutorOptions& options = {});

class Executor {
 public:
  // `weights` holds the model's weights as this backend reads them, shared
  // by the model's executors; null makes one for this executor alone.
  // Throws unsupported when the backend has no kernel for a node; releases
  // everything it took when anything fails.
  Executor(Graph graph, std::shared_ptr<Backend> backend,
           std::shared_ptr<PreparedWeights> weights = nullptr, const ExecutorOptions& options = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Points the activations and scratch at `memory` (plan().total_bytes()
  // bytes on the backend's device).
  void bind_memory(void* memory);

  // One host tensor per graph input and output, in the graph's order, each
  // of that value's shape and dtype. enqueue starts the work (on a device
  // with streams it returns before the work is done, the inputs already
  // copied); wait() completes it, outputs written. run() is both.
  void enqueue(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs);
  void wait();
  void run(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs) {
    enqueue(inputs, outputs);
    wait();
  }

  const Graph& graph() const { return graph_; }
  const MemoryPlan& plan() const { return plan_; }
  const PreparedWeights& weights() const { return *weights_; }
  // The tensor a value is bound to (weights: the prepared weight).
  const Tensor& bound(int value) const { return bound_.at(value); }
  // Why runs go node by node although capture was asked for (the capture
  // failed once and is not tried again), or empty: for the caller to show.
  const std::string& capture_notice() const { return capture_notice_; }

 private:
  struct MemoryBlock {
    Backend* backend = nullptr;
    void* ptr = nullptr;
    ~MemoryBlock();
  };
  struct StagingBlock {
    Backend* backend = nullptr;
    void* ptr = nullptr;
    ~StagingBlock();
  };
  struct NodeStates {
    std::vector<std::pair<void (*)(void*) noexcept, void*>> states;
    ~NodeStates();
  };
  struct Step {
    void (*fn)(const KernelArgs&);
    KernelArgs args;
  };

  Graph graph_;
  std::shared_ptr<Backend> backend_;
  std::shared_ptr<PreparedWeights> weights_;
  MemoryPlan plan_;
  MemoryBlock memory_;
  // Where the backend wants it (pinned memory on a GPU): every input's and
  // output's bytes, so that copies run asynchronously; outputs reach the
  // caller's tensors in wait().
  StagingBlock staging_;
  std::vector<size_t> staging_offset_;  // per graph input, then per output
  std::vector<void*> pending_outputs_;  // the caller's output buffers until wait()
  NodeStates states_;
  std::vector<Tensor> bound_;  // per value: its tensor on the device
  std::vector<Step> steps_;
  bool bound_memory_ = false;
  bool capture_ = true;
  int runs_ = 0;  // since the memory was bound
  std::unique_ptr<CapturedWork> captured_;  // of the steps, on the bound memory
  std::string capture_notice_;
};

}  // namespace visionrt::graph
