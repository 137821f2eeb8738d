// Planned executors of one model, one per input shape, built on first use.
// Runs are serialised: an executor owns its activation memory.
#pragma once
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "graph/executor.hpp"

namespace visionrt {

class ExecutorCache {
 public:
  using Key = std::tuple<int, int, int>;  // batch, height, width
  using Builder = std::function<graph::Graph(int, int, int)>;

  ExecutorCache(std::shared_ptr<Backend> backend, Builder build)
      : backend_(std::move(backend)), build_(std::move(build)) {}

  // Runs the graph for this shape with the mutex held.
  void run(const Key& key, const std::vector<const float*>& in, const std::vector<float*>& out) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = executors_.find(key);
    if (it == executors_.end()) {
      // A caller cycling through many shapes must not grow memory without bound.
      if (executors_.size() >= kMaxShapes) executors_.clear();
      auto ex = std::make_unique<graph::Executor>(
          build_(std::get<0>(key), std::get<1>(key), std::get<2>(key)), backend_);
      peak_bytes_ = std::max(peak_bytes_, ex->plan().arena_bytes + ex->plan().workspace_bytes);
      it = executors_.emplace(key, std::move(ex)).first;
    }
    it->second->run(in, out);
  }

  size_t peak_bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return peak_bytes_;
  }

 private:
  static constexpr size_t kMaxShapes = 8;
  std::shared_ptr<Backend> backend_;
  Builder build_;
  std::mutex mu_;
  std::map<Key, std::unique_ptr<graph::Executor>> executors_;
  size_t peak_bytes_ = 0;
};

}  // namespace visionrt
