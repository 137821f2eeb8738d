// Max pooling: a grid-stride loop over output pixels times channel groups, so
// neighbouring threads read neighbouring channels of one input pixel
// (coalesced in NHWC). A group is a 16-byte vector when the channel count and
// both pointers allow it, one element otherwise.
#include <algorithm>

#include "kernels/cuda_common.cuh"
#include "kernels/max_pool.hpp"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
// Keeps every element index, and the byte counts in can_implement, in range.
constexpr int64_t kMaxElements = int64_t(1) << 31;

struct PoolArgs {
  const void* input;
  void* output;
  int64_t height, width, out_h, out_w;
  int64_t groups;  // channel groups per pixel: channels / E
  int64_t items;   // out pixels * groups
  int kernel, stride, pad;
};

// E channels per group: 1, or one 16-byte vector (channels a multiple of E).
template <typename T, int E>
__global__ void __launch_bounds__(kThreads) max_pool_kernel(const PoolArgs a) {
  const T* in = static_cast<const T*>(a.input);
  T* out = static_cast<T*>(a.output);
  for (int64_t item = blockIdx.x * int64_t(kThreads) + threadIdx.x; item < a.items;
       item += int64_t(gridDim.x) * kThreads) {
    const int64_t g = item % a.groups, pixel = item / a.groups;
    const int64_t ox = pixel % a.out_w, oy = (pixel / a.out_w) % a.out_h;
    const int64_t n = pixel / (a.out_w * a.out_h);
    float best[E];
#pragma unroll
    for (int j = 0; j < E; ++j) best[j] = -INFINITY;
    for (int ky = 0; ky < a.kernel; ++ky) {
      const int64_t iy = oy * a.stride - a.pad + ky;
      if (iy < 0 || iy >= a.height) continue;
      for (int kx = 0; kx < a.kernel; ++kx) {
        const int64_t ix = ox * a.stride - a.pad + kx;
        if (ix < 0 || ix >= a.width) continue;
        const T* p = in + ((n * a.height + iy) * a.width + ix) * (a.groups * E) + g * E;
        float v[E];
        if constexpr (E == 1) {
          v[0] = to_float(p[0]);
        } else {
          load_vec16(p, v);
        }
        // fmaxf returns the other operand when one is NaN, as the CPU's
        // std::max(best, v) keeps best; best itself is never NaN.
#pragma unroll
        for (int j = 0; j < E; ++j) best[j] = fmaxf(best[j], v[j]);
      }
    }
    // Every value is one of T's (or -inf), so the conversion is exact.
    T* o = out + item * E;
    if constexpr (E == 1) {
      o[0] = from_float<T>(best[0]);
    } else {
      store_vec16(o, best);
    }
  }
}

}  // namespace

int64_t max_pool_out_size(int64_t in, int kernel, int stride, int pad) {
  // 0 when no window fits: C++ division truncates toward zero, so a room of
  // -1 must not reach it.
  const int64_t room = in + 2 * int64_t(pad) - kernel;
  return stride >= 1 && room >= 0 ? room / stride + 1 : 0;
}

bool can_implement(const MaxPoolParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.batch >= 0 && p.height >= 1 && p.width >= 1 && p.channels >= 1, "bad shape [",
              p.batch, ", ", p.height, ", ", p.width, ", ", p.channels, "]");
  req.require(p.kernel >= 1 && p.stride >= 1 && p.pad >= 0, "bad window: kernel ", p.kernel,
              ", stride ", p.stride, ", pad ", p.pad);
  req.require(p.input && p.output, "null input or output");
  if (!req.ok) return false;
  const int64_t out_h = max_pool_out_size(p.height, p.kernel, p.stride, p.pad);
  const int64_t out_w = max_pool_out_size(p.width, p.kernel, p.stride, p.pad);
  req.require(out_h >= 1 && out_w >= 1, "a ", p.kernel, "x", p.kernel, " window with pad ", p.pad,
              " does not fit a ", p.height, "x", p.width, " input");
  if (!req.ok) return false;
  const int64_t batch = std::max<int64_t>(p.batch, 1);
  const int64_t pixels_limit = kMaxElements / p.channels / batch;
  req.require(p.height <= pixels_limit / p.width && out_h <= pixels_limit / out_w, "tensors of ",
              p.batch, " x ", p.height, " x ", p.width, " x ", p.channels, " elements are too large");
  if (!req.ok) return false;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  req.require(!overlaps(p.output, p.batch * out_h * out_w * p.channels * esize, p.input,
                        p.batch * p.height * p.width * p.channels * esize),
              "output overlaps the input");
  return req.ok;
}

void max_pool(const MaxPoolParams& p) {
  require_implementable(p, "max_pool");
  const int64_t out_h = max_pool_out_size(p.height, p.kernel, p.stride, p.pad);
  const int64_t out_w = max_pool_out_size(p.width, p.kernel, p.stride, p.pad);
  const int64_t pixels = p.batch * out_h * out_w;
  if (pixels == 0) return;
  const int64_t vec = 16 / int64_t(dtype_size(p.dtype));
  const bool vectorised = p.channels % vec == 0 && is_aligned16(p.input) && is_aligned16(p.output);
  PoolArgs a{p.input, p.output, p.height, p.width, out_h, out_w, 0, 0, p.kernel, p.stride, p.pad};
  const cudaStream_t stream = as_stream(p.stream);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    a.groups = vectorised ? p.channels / vec : p.channels;
    a.items = pixels * a.groups;
    const unsigned blocks = grid_stride_blocks(a.items, kThreads);
    if (vectorised) {
      max_pool_kernel<T, kVec16<T>><<<blocks, kThreads, 0, stream>>>(a);
    } else {
      max_pool_kernel<T, 1><<<blocks, kThreads, 0, stream>>>(a);
    }
  });
  check_launch("max_pool kernel launch");
}

}  // namespace visionrt::kernels
