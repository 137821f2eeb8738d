// The CPU's one threading runtime: parallel loops run on OpenMP's threads,
// the same threads oneDNN's primitives use, so that no two pools spin
// against each other on the same cores. A ThreadPool is a thread count and
// the loops that use it; parallel_for allocates nothing.
#pragma once
#include <cstdint>
#include <type_traits>

namespace visionrt {

class ThreadPool {
 public:
  // threads <= 0 picks all_cores().
  explicit ThreadPool(int threads = 0);

  // The processors this process may run on (OpenMP's count, which follows
  // the affinity mask), at least 1: the one meaning of "all cores".
  static int all_cores();

  int size() const { return threads_; }

  // Calls fn(begin, end) on disjoint chunks covering [0, n) on up to size()
  // threads, the calling thread among them, and returns when all are done.
  // Chunks hold at least `grain` indices. `fn` is referred to, never copied.
  // The first exception a chunk throws is rethrown here, the chunks not yet
  // started being skipped.
  template <typename Fn>
  void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
    run(n, grain, {&fn, [](const void* f, int64_t b, int64_t e) { (*static_cast<const std::remove_reference_t<Fn>*>(f))(b, e); }});
  }

  // Inside fn: which thread runs it, in [0, size()): 0 is the calling thread.
  // Lets ops give each thread its own slice of planned scratch memory.
  static int worker_index();

  // Makes the OpenMP calls of the calling thread (oneDNN's primitives) use
  // size() threads. Cheap: call it before each such call.
  void bind_calling_thread() const { bind_calling_thread(threads_); }
  // The same for `threads` threads (0: all cores): oneDNN fixes a
  // primitive's thread count when it creates it, so creation binds too.
  static void bind_calling_thread(int threads);

 private:
  // A non-owning reference to a chunk function.
  struct ChunkFn {
    const void* object;
    void (*call)(const void*, int64_t, int64_t);
    void operator()(int64_t b, int64_t e) const { call(object, b, e); }
  };
  void run(int64_t n, int64_t grain, ChunkFn fn);

  int threads_ = 1;
};

}  // namespace visionrt
