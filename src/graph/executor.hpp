// Runs a graph on a backend. Construction plans memory once (liveness of
// every activation -> offsets in one arena) and binds every op's arguments;
// run() then only copies inputs in, calls the op functions and copies
// outputs out: it allocates nothing.
#pragma once
#include <memory>
#include <vector>

#include "backends/backend.hpp"
#include "graph/graph.hpp"

namespace visionrt::graph {

struct MemoryPlan {
  std::vector<size_t> offset;  // per value; meaningful for inputs and activations
  size_t arena_bytes = 0;      // peak bytes of inputs and activations together
  size_t workspace_bytes = 0;  // the largest scratch any op needs
};

// Greedy first-fit over value lifetimes: a buffer is reused once the last
// node reading it has run. Outputs stay live to the end.
MemoryPlan plan_memory(const Graph& g, const Backend& backend);

class Executor {
 public:
  // Throws unsupported when the backend lacks an op the graph uses.
  Executor(Graph graph, std::shared_ptr<Backend> backend);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // One host pointer per graph input and output, in the graph's order,
  // each holding that value's shape in F32.
  void run(const std::vector<const float*>& inputs, const std::vector<float*>& outputs);

  const Graph& graph() const { return graph_; }
  const MemoryPlan& plan() const { return plan_; }

 private:
  Graph graph_;
  std::shared_ptr<Backend> backend_;
  MemoryPlan plan_;
  void* arena_ = nullptr;
  void* workspace_ = nullptr;
  std::vector<Tensor> bound_;  // per value: its tensor on the device
  struct Step {
    OpFn fn;
    OpArgs args;
  };
  std::vector<Step> steps_;
};

}  // namespace visionrt::graph
