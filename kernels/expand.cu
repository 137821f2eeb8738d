// Broadcast copy: a grid-stride loop over the output in the widest unit (16,
// 4 or 1 bytes) that divides the tensor size and both pointers' alignment,
// each unit read from input[unit index mod units per copy].
#include <algorithm>

#include "kernels/cuda_common.cuh"
#include "kernels/expand.hpp"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBytes = int64_t(1) << 40;  // keeps byte counts from overflowing

template <typename Unit>
__global__ void __launch_bounds__(kThreads)
    expand_kernel(const Unit* in, Unit* out, int64_t units_per_copy, int64_t units) {
  for (int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x; i < units;
       i += int64_t(gridDim.x) * kThreads)
    out[i] = in[i % units_per_copy];
}

template <typename Unit>
void launch_expand(const ExpandParams& p, cudaStream_t stream) {
  const int64_t per_copy = p.bytes / int64_t(sizeof(Unit)), units = per_copy * p.count;
  // Enough CTAs to fill any current GPU; the kernel loops over the rest.
  const unsigned grid = unsigned(std::min<int64_t>((units + kThreads - 1) / kThreads, 8192));
  expand_kernel<Unit><<<grid, kThreads, 0, stream>>>(static_cast<const Unit*>(p.input),
                                                     static_cast<Unit*>(p.output), per_copy, units);
}

bool fits_unit(const ExpandParams& p, int64_t unit) {
  return p.bytes % unit == 0 && reinterpret_cast<uintptr_t>(p.input) % unit == 0 &&
         reinterpret_cast<uintptr_t>(p.output) % unit == 0;
}


}  // namespace

bool can_implement(const ExpandParams& p, std::string* why) {
  Requirements req{why};
  req.require(p.bytes >= 1 && p.count >= 0, "bad size: ", p.count, " copies of ", p.bytes,
              " bytes");
  req.require(p.input && p.output, "null input or output");
  if (!req.ok) return false;
  req.require(p.count <= kMaxBytes / p.bytes, p.count, " copies of ", p.bytes,
              " bytes are too large");
  if (!req.ok) return false;
  req.require(!overlaps(p.output, p.count * p.bytes, p.input, p.bytes),
              "output overlaps the input");
  return req.ok;
}

void expand(const ExpandParams& p) {
  require_implementable(p, "expand");
  if (p.count == 0) return;
  const cudaStream_t stream = as_stream(p.stream);
  if (fits_unit(p, 16))
    launch_expand<uint4>(p, stream);
  else if (fits_unit(p, 4))
    launch_expand<uint32_t>(p, stream);
  else
    launch_expand<unsigned char>(p, stream);
  check_launch("expand kernel launch");
}

}  // namespace visionrt::kernels
