#include "core/thread_pool.hpp"

#include <algorithm>

namespace visionrt {

namespace {
thread_local int tls_worker_index = 0;
}  // namespace

int ThreadPool::worker_index() { return tls_worker_index; }

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_chunks() {
  for (;;) {
    int64_t c;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (next_chunk_ >= chunks_) return;
      c = next_chunk_++;
    }
    const int64_t b = c * job_chunk_;
    job_(b, std::min(job_n_, b + job_chunk_));
  }
}

void ThreadPool::worker_loop(int index) {
  tls_worker_index = index;
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      ++busy_;
    }
    run_chunks();
    {
      std::lock_guard<std::mutex> lock(mu_);
      --busy_;
    }
    done_cv_.notify_all();
  }
}

void ThreadPool::run(int64_t n, int64_t grain, ChunkFn fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t max_chunks = std::max<int64_t>(1, n / grain);
  // A few chunks per thread balance uneven work without much locking.
  const int64_t chunks = std::min<int64_t>(max_chunks, int64_t(size()) * 4);
  if (workers_.empty() || chunks == 1) {
    fn(0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = fn;
    job_n_ = n;
    job_chunk_ = (n + chunks - 1) / chunks;
    chunks_ = (n + job_chunk_ - 1) / job_chunk_;
    next_chunk_ = 0;
    ++generation_;
  }
  start_cv_.notify_all();
  run_chunks();
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return next_chunk_ >= chunks_ && busy_ == 0; });
  job_ = {nullptr, nullptr};
}

}  // namespace visionrt
