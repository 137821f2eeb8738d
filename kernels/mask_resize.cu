// Nearest-neighbour mask resize: one thread per output pixel, grid-stride.
// The index arithmetic uses explicit round-to-nearest intrinsics so that no
// compiler contraction or fast-math flag can change a source index.
#include <algorithm>

#include "kernels/cuda_common.cuh"
#include "kernels/mask_resize.hpp"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxSide = int64_t(1) << 24;
constexpr int64_t kMaxElements = int64_t(1) << 31;

struct ResizeArgs {
  const float* mask;
  float* output;
  int64_t in_h, in_w, out_h, out_w, items;
  float sy, sx;
};

// The source index along one axis, as the CPU's
// min(int64(floor(float(dst) * scale)), in - 1).
__device__ __forceinline__ int64_t source_index(int64_t dst, float scale, int64_t in) {
  return min(static_cast<int64_t>(floorf(__fmul_rn(static_cast<float>(dst), scale))), in - 1);
}

__global__ void __launch_bounds__(kThreads) mask_resize_kernel(const ResizeArgs a) {
  for (int64_t item = blockIdx.x * int64_t(kThreads) + threadIdx.x; item < a.items;
       item += int64_t(gridDim.x) * kThreads) {
    const int64_t x = item % a.out_w, y = (item / a.out_w) % a.out_h;
    const int64_t n = item / (a.out_w * a.out_h);
    const int64_t iy = source_index(y, a.sy, a.in_h), ix = source_index(x, a.sx, a.in_w);
    a.output[item] = a.mask[(n * a.in_h + iy) * a.in_w + ix] != 0.f ? 1.f : 0.f;
  }
}

}  // namespace

bool can_implement(const MaskResizeParams& p, std::string* why) {
  Requirements req{why};
  req.require(p.batch >= 0 && p.in_h >= 1 && p.in_w >= 1 && p.out_h >= 1 && p.out_w >= 1,
              "bad sizes: ", p.batch, " masks of ", p.in_h, "x", p.in_w, " to ", p.out_h, "x", p.out_w);
  req.require(p.mask && p.output, "null mask or output");
  if (!req.ok) return false;
  req.require(p.in_h <= kMaxSide && p.in_w <= kMaxSide && p.out_h <= kMaxSide && p.out_w <= kMaxSide,
              "sides above 2^24 are not exact in fp32");
  if (!req.ok) return false;
  const int64_t batch = std::max<int64_t>(p.batch, 1);
  req.require(p.in_h * p.in_w <= kMaxElements / batch && p.out_h * p.out_w <= kMaxElements / batch,
              "masks of ", p.batch, " x ", p.in_h, " x ", p.in_w, " (or the output) are too large");
  if (!req.ok) return false;
  const int64_t fsize = int64_t(sizeof(float));
  req.require(!overlaps(p.output, p.batch * p.out_h * p.out_w * fsize, p.mask,
                        p.batch * p.in_h * p.in_w * fsize),
              "output overlaps the mask");
  return req.ok;
}

void mask_resize(const MaskResizeParams& p) {
  require_implementable(p, "mask_resize");
  const int64_t items = p.batch * p.out_h * p.out_w;
  if (items == 0) return;
  // Host division is IEEE fp32, as the CPU backend's static_cast<float>(H) / oh.
  const ResizeArgs a{p.mask, p.output, p.in_h, p.in_w, p.out_h, p.out_w, items,
                     static_cast<float>(p.in_h) / static_cast<float>(p.out_h),
                     static_cast<float>(p.in_w) / static_cast<float>(p.out_w)};
  mask_resize_kernel<<<grid_stride_blocks(items, kThreads), kThreads, 0, as_stream(p.stream)>>>(a);
  check_launch("mask_resize kernel launch");
}

}  // namespace visionrt::kernels
