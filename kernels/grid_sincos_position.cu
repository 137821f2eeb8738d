// 2-D sine-cosine positions: a grid-stride loop over the output's elements,
// consecutive threads on consecutive channels of one cell (coalesced
// stores); each element's frequency, argument and sine or cosine in double.
// The grid is small (RT-DETR's is its stride-32 map), so the double math
// costs nothing that matters.
#include <cmath>

#include "kernels/cuda_common.cuh"
#include "kernels/grid_sincos_position.hpp"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBytes = int64_t(1) << 40;  // keeps byte counts from overflowing

template <typename T>
__global__ void __launch_bounds__(kThreads)
    grid_sincos_position_kernel(T* __restrict__ out, int64_t items, int64_t cells, int width, int64_t dim,
                                double temperature) {
  const int64_t feats = dim / 4;
  for (int64_t item = blockIdx.x * int64_t(kThreads) + threadIdx.x; item < items;
       item += int64_t(gridDim.x) * kThreads) {
    const int64_t c = item % dim, s = (item / dim) % cells;
    const int64_t quarter = c / feats, i = c % feats;
    // As the CPU: 1 / temperature^(i / F), the position times it.
    const double omega = 1.0 / pow(temperature, double(i) / double(feats));
    const double pos = quarter < 2 ? double(s / width) : double(s % width);
    const double arg = pos * omega;
    out[item] = from_float<T>(float(quarter % 2 == 0 ? sin(arg) : cos(arg)));
  }
}

}  // namespace

bool can_implement(const GridSincosPositionParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.batch >= 0 && p.height >= 1 && p.width >= 1, "bad grid: batch ", p.batch, ", ", p.height, "x",
              p.width);
  req.require(p.dim >= 4 && p.dim % 4 == 0, "dim ", p.dim, " is not a positive multiple of 4");
  req.require(std::isfinite(p.temperature) && p.temperature > 0.f, "temperature ", p.temperature,
              " is not finite and above 0");
  req.require(p.output != nullptr, "null output");
  if (!req.ok) return false;
  const int64_t limit = kMaxBytes / int64_t(dtype_size(p.dtype)) / p.dim;
  req.require(int64_t(p.height) * p.width <= limit / std::max<int64_t>(p.batch, 1), "an output of ", p.batch, " x ",
              p.height, " x ", p.width, " x ", p.dim, " elements is too large");
  return req.ok;
}

void grid_sincos_position(const GridSincosPositionParams& p) {
  require_implementable(p, "grid_sincos_position");
  const int64_t cells = int64_t(p.height) * p.width, items = p.batch * cells * p.dim;
  if (items == 0) return;
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    grid_sincos_position_kernel<T><<<grid_stride_blocks(items, kThreads), kThreads, 0, as_stream(p.stream)>>>(
        static_cast<T*>(p.output), items, cells, p.width, p.dim, double(p.temperature));
  });
  check_launch("grid_sincos_position kernel launch");
}

}  // namespace visionrt::kernels
