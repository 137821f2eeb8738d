#include "api/executor_cache.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace visionrt {

ExecutorCache::ExecutorCache(std::shared_ptr<Backend> backend,
                             std::shared_ptr<const graph::WeightTable> weights, Builder build,
                             size_t max_shapes, bool capture)
    : backend_(std::move(backend)),
      weights_(std::make_shared<PreparedWeights>(backend_, std::move(weights))),
      build_(std::move(build)),
      max_shapes_(std::max<size_t>(max_shapes, 1)),
      capture_(capture) {}

ExecutorCache::~ExecutorCache() {
  entries_.clear();
  if (block_) backend_->release(block_);
}

void ExecutorCache::resize_block(size_t bytes) {
  if (bytes == block_bytes_) return;
  void* fresh = backend_->allocate(std::max<size_t>(bytes, 1));
  if (block_) backend_->release(block_);
  block_ = fresh;
  block_bytes_ = bytes;
  for (Entry& e : entries_) e.executor->bind_memory(block_);
}

void ExecutorCache::run(const Key& key, const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.key == key; });
  if (it != entries_.end()) {
    entries_.splice(entries_.begin(), entries_, it);
  } else {
    graph::ExecutorOptions options;
    options.own_memory = false;
    options.capture = capture_;
    graph::Graph g = seed_ && seed_->first == key ? std::move(seed_->second)
                                                 : build_(std::get<0>(key), std::get<1>(key), std::get<2>(key));
    seed_.reset();
    auto ex = std::make_unique<graph::Executor>(std::move(g), backend_, weights_, options);
    const size_t need = ex->plan().total_bytes();
    if (need > block_bytes_) resize_block(need);
    ex->bind_memory(block_);
    entries_.push_front({key, std::move(ex)});
    if (entries_.size() > max_shapes_) {
      entries_.pop_back();
      size_t largest = 0;
      for (const Entry& e : entries_) largest = std::max(largest, e.executor->plan().total_bytes());
      if (largest < block_bytes_) resize_block(largest);
    }
  }
  entries_.front().executor->run(in, out);
}

size_t ExecutorCache::held_bytes() {
  std::lock_guard<std::mutex> lock(mu_);
  return block_bytes_;
}

size_t ExecutorCache::shapes() {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace visionrt

namespace visionrt {

SampleChoice choose_backend_for(const graph::Graph& sample, const Options& options) {
  BackendChoice choice = choose_backend(options.device, options.num_threads, options.precision);
  graph::Graph lowered = graph::lower(sample, *choice.backend);
  const std::string missing = graph::missing_kernel(lowered, *choice.backend);
  if (missing.empty()) return {std::move(choice), std::move(lowered)};
  if (options.device == Device::automatic && device_of(*choice.backend) == Device::cuda) {
    BackendChoice cpu{make_cpu_backend_for(options.num_threads, options.precision),
                      "the GPU backend has no " + missing + " yet; running on the CPU"};
    graph::Graph on_cpu = graph::lower(sample, *cpu.backend);
    return {std::move(cpu), std::move(on_cpu)};
  }
  fail(StatusCode::unsupported, "the ", choice.backend->name(), " backend has no ", missing);
}

}  // namespace visionrt
