// A fixed set of worker threads that split index ranges between them.
// Threads are started once; parallel_for allocates nothing.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <type_traits>
#include <mutex>
#include <thread>
#include <vector>

namespace visionrt {

class ThreadPool {
 public:
  // threads <= 0 picks the number of hardware threads.
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) on disjoint chunks covering [0, n), on the calling
  // thread and the workers, and returns when all are done. Chunks hold at
  // least `grain` indices. `fn` is referred to, never copied: no allocation.
  template <typename Fn>
  void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
    run(n, grain, {&fn, [](const void* f, int64_t b, int64_t e) { (*static_cast<const std::remove_reference_t<Fn>*>(f))(b, e); }});
  }

  // Inside fn: which thread runs it, in [0, size()): 0 is the calling thread.
  // Lets ops give each thread its own slice of planned scratch memory.
  static int worker_index();

 private:
  // A non-owning reference to a chunk function.
  struct ChunkFn {
    const void* object;
    void (*call)(const void*, int64_t, int64_t);
    void operator()(int64_t b, int64_t e) const { call(object, b, e); }
  };
  void run(int64_t n, int64_t grain, ChunkFn fn);
  void worker_loop(int index);
  void run_chunks();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  ChunkFn job_{nullptr, nullptr};
  int64_t job_n_ = 0, job_chunk_ = 0, next_chunk_ = 0, chunks_ = 0;
  int busy_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

}  // namespace visionrt
