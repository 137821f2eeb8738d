// Spreading the front end's per-image work (decode, preprocess) over threads.
#pragma once
#include <algorithm>
#include <cstddef>
#include <thread>
#include <vector>

#include "visionrt/visionrt.hpp"

namespace visionrt_cli {

// Threads for decoding and preprocessing: `asked`, or all cores as the
// library counts them for its own work.
inline int front_end_threads(int asked) { return asked > 0 ? asked : visionrt::hardware_threads(); }

// Runs fn(i) for every i < n on up to `threads` threads; fn must not throw.
template <typename Fn>
void parallel_for(size_t n, int threads, Fn&& fn) {
  const size_t workers = std::min<size_t>(std::max(threads, 1), n);
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::vector<std::thread> pool;
  for (size_t w = 0; w < workers; ++w)
    pool.emplace_back([&, w] {
      for (size_t i = w; i < n; i += workers) fn(i);
    });
  for (std::thread& t : pool) t.join();
}

}  // namespace visionrt_cli
