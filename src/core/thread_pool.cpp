#include "core/thread_pool.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>

namespace visionrt {

int ThreadPool::worker_index() { return omp_get_thread_num(); }

int ThreadPool::all_cores() { return std::max(1, omp_get_num_procs()); }

ThreadPool::ThreadPool(int threads) : threads_(threads > 0 ? threads : all_cores()) {}

void ThreadPool::bind_calling_thread(int threads) { omp_set_num_threads(threads > 0 ? threads : all_cores()); }

void ThreadPool::run(int64_t n, int64_t grain, ChunkFn fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t max_chunks = std::max<int64_t>(1, n / grain);
  // A few chunks per thread balance uneven work.
  const int64_t chunks = std::min<int64_t>(max_chunks, int64_t(threads_) * 4);
  if (threads_ == 1 || chunks == 1) {
    fn(0, n);
    return;
  }
  const int64_t chunk = (n + chunks - 1) / chunks;
  const int64_t count = (n + chunk - 1) / chunk;
  const int team = static_cast<int>(std::min<int64_t>(threads_, count));
  // An exception may not leave an OpenMP region (the runtime would
  // terminate the process): the first one is kept, the remaining chunks are
  // skipped, and it is rethrown on the calling thread.
  std::exception_ptr error;
  std::atomic<bool> failed{false};
#pragma omp parallel for num_threads(team) schedule(dynamic, 1)
  for (int64_t c = 0; c < count; ++c) {
    if (failed.load(std::memory_order_relaxed)) continue;
    try {
      fn(c * chunk, std::min(n, (c + 1) * chunk));
    } catch (...) {
#pragma omp critical(visionrt_thread_pool_error)
      if (!error) error = std::current_exception();
      failed.store(true, std::memory_order_relaxed);
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace visionrt
