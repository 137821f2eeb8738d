// Broadcast copy on the GPU: `count` copies of a `bytes`-byte tensor back to
// back, output[i * bytes + j] = input[j] (a [1, ...] tensor expanded to
// [count, ...]). Byte-wise, so it serves every data type.
#pragma once
#include <cstdint>
#include <string>

namespace visionrt::kernels {

struct ExpandParams {
  int64_t bytes = 0;            // size of one copy
  int64_t count = 0;            // copies
  const void* input = nullptr;  // `bytes` bytes
  void* output = nullptr;       // count * bytes bytes; must not overlap the input
  void* stream = nullptr;       // cudaStream_t
};

bool can_implement(const ExpandParams& p, std::string* why);

// Enqueues the copies on p.stream (one kernel, whatever the count); throws
// visionrt::Error: unsupported when can_implement refuses p, device_error when
// the launch fails.
void expand(const ExpandParams& p);

}  // namespace visionrt::kernels
