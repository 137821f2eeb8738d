// Planned executors of one model, one per input shape, built on first use.
// They share the model's prepared weights (each weight prepared once for the
// backend) and one memory block sized to the largest planned shape: runs are
// serialised, so no two executors use it at once. When more than
// `max_shapes` shapes are planned, the least recently used one is dropped
// and the block shrinks to what the others need.
#pragma once
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <tuple>

#include "api/registry.hpp"
#include "runtime/executor.hpp"

namespace visionrt {

// Input shapes a model keeps planned at once (a DETR batch's padded size
// varies with its images).
constexpr size_t kMaxPlannedShapes = 8;

class ExecutorCache {
 public:
  using Key = std::tuple<int, int, int>;  // batch, height, width
  using Builder = std::function<graph::Graph(int, int, int)>;

  // capture: each executor launches its kernels as one captured graph
  // where the backend can (ExecutorOptions::capture).
  ExecutorCache(std::shared_ptr<Backend> backend, std::shared_ptr<const graph::WeightTable> weights,
                Builder build, size_t max_shapes = kMaxPlannedShapes, bool capture = true);
  ~ExecutorCache();

  // The graph for `key`, lowered for this backend already (the sample the
  // backend was chosen with): the first executor planned uses it when its
  // shape is `key`, so that the graph passes run once per graph.
  void seed(const Key& key, graph::Graph lowered) { seed_.emplace(key, std::move(lowered)); }

  // Runs the graph for this shape with the lock held.
  void run(const Key& key, const std::vector<Tensor>& in, const std::vector<Tensor>& out);

  // Bytes of activation and scratch memory held now.
  size_t held_bytes();
  size_t shapes();
  const Backend& backend() const { return *backend_; }

 private:
  struct Entry {
    Key key;
    std::unique_ptr<graph::Executor> executor;
  };
  // Makes the block at least `bytes` (or exactly the largest need when
  // shrinking) and rebinds every executor to it.
  void resize_block(size_t bytes);

  std::shared_ptr<Backend> backend_;
  std::shared_ptr<PreparedWeights> weights_;
  Builder build_;
  size_t max_shapes_;
  bool capture_;
  std::mutex mu_;
  std::list<Entry> entries_;  // most recently used first
  std::optional<std::pair<Key, graph::Graph>> seed_;
  void* block_ = nullptr;
  size_t block_bytes_ = 0;
};

// The backend `options` ask for, able to run every node of `sample` (a
// graph of the model at any input size), and the sample lowered for it:
// Device::automatic falls back to the CPU, with a notice, when the GPU
// lacks a kernel the model needs; Device::cuda then fails as unsupported,
// naming the op.
struct SampleChoice {
  BackendChoice choice;
  graph::Graph lowered;
};
SampleChoice choose_backend_for(const graph::Graph& sample, const Options& options);

}  // namespace visionrt
