// Type conversion: a grid-stride loop, one element per step, through fp32
// (exact for every source type) with one round-to-nearest-even conversion to
// the destination. Equal types are an asynchronous device-to-device copy.
#include <algorithm>
#include <type_traits>

#include "kernels/cast.hpp"
#include "kernels/cuda_common.cuh"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxElements = int64_t(1) << 40;  // keeps byte counts from overflowing

template <typename From, typename To>
__global__ void __launch_bounds__(kThreads) cast_kernel(const From* in, To* out, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * kThreads)
    out[i] = from_float<To>(to_float(in[i]));
}



}  // namespace

bool can_implement(const CastParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.from) && is_float(p.to), "not a float data type");
  req.require(p.count >= 0 && p.count <= kMaxElements, "count ", p.count, " outside 0..2^40");
  req.require(p.input && p.output, "null input or output");
  if (!req.ok) return false;
  req.require(!overlaps(p.output, p.count * int64_t(dtype_size(p.to)), p.input,
                        p.count * int64_t(dtype_size(p.from))),
              "output overlaps the input");
  return req.ok;
}

void cast(const CastParams& p) {
  require_implementable(p, "cast");
  if (p.count == 0) return;
  const cudaStream_t stream = as_stream(p.stream);
  if (p.from == p.to) {
    check_cuda(cudaMemcpyAsync(p.output, p.input, size_t(p.count) * dtype_size(p.to),
                               cudaMemcpyDeviceToDevice, stream),
               "cast cudaMemcpyAsync");
    return;
  }
  dispatch_dtype(p.from, [&](auto from_tag) {
    using From = decltype(from_tag);
    dispatch_dtype(p.to, [&](auto to_tag) {
      using To = decltype(to_tag);
      if constexpr (!std::is_same<From, To>::value)  // equal types were copied above
        cast_kernel<From, To><<<grid_stride_blocks(p.count, kThreads), kThreads, 0, stream>>>(
            static_cast<const From*>(p.input), static_cast<To*>(p.output), p.count);
    });
  });
  check_launch("cast kernel launch");
}

}  // namespace visionrt::kernels
