// Average pooling: a grid-stride loop over output pixels times channel
// groups, so neighbouring threads read neighbouring channels of one input
// pixel (coalesced in NHWC). A group is a 16-byte vector when the channel
// count and both pointers allow it, one element otherwise.
#include <algorithm>

#include "kernels/avg_pool.hpp"
#include "kernels/cuda_common.cuh"

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
  int kernel, stride;
};

// E channels per group: 1, or one 16-byte vector (channels a multiple of E).
template <typename T, int E>
__global__ void __launch_bounds__(kThreads) avg_pool_kernel(const PoolArgs a) {
  const T* in = static_cast<const T*>(a.input);
  T* out = static_cast<T*>(a.output);
  for (int64_t item = blockIdx.x * int64_t(kThreads) + threadIdx.x; item < a.items;
       item += int64_t(gridDim.x) * kThreads) {
    const int64_t g = item % a.groups, pixel = item / a.groups;
    const int64_t ox = pixel % a.out_w, oy = (pixel / a.out_w) % a.out_h;
    const int64_t n = pixel / (a.out_w * a.out_h);
    // The window, cut at the input's far edges (ceil mode's last window).
    const int64_t y0 = oy * a.stride, y1 = min(y0 + a.kernel, a.height);
    const int64_t x0 = ox * a.stride, x1 = min(x0 + a.kernel, a.width);
    float sum[E];
#pragma unroll
    for (int j = 0; j < E; ++j) sum[j] = 0.f;
    for (int64_t y = y0; y < y1; ++y)
      for (int64_t x = x0; x < x1; ++x) {
        float v[E];
        load_items<T, E>(in + ((n * a.height + y) * a.width + x) * (a.groups * E) + g * E, v);
#pragma unroll
        for (int j = 0; j < E; ++j) sum[j] += v[j];
      }
    // As the CPU kernel: the sum times 1 / cells, the reciprocal in fp32.
    const float inv = 1.f / float((y1 - y0) * (x1 - x0));
#pragma unroll
    for (int j = 0; j < E; ++j) sum[j] *= inv;
    store_items<T, E>(out + item * E, sum);
  }
}

}  // namespace

int64_t avg_pool_out_size(int64_t in, int kernel, int stride) {
  if (stride < 1 || kernel < 1 || in < kernel) return 0;
  const int64_t o = (in - kernel + stride - 1) / stride + 1;
  // A last window must start inside the input.
  return (o - 1) * stride >= in ? o - 1 : o;
}

bool can_implement(const AvgPoolParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.batch >= 0 && p.height >= 1 && p.width >= 1 && p.channels >= 1, "bad shape [", p.batch, ", ",
              p.height, ", ", p.width, ", ", p.channels, "]");
  req.require(p.kernel >= 1 && p.stride >= 1, "bad window: kernel ", p.kernel, ", stride ", p.stride);
  req.require(p.input && p.output, "null input or output");
  if (!req.ok) return false;
  req.require(p.height >= p.kernel && p.width >= p.kernel, "a ", p.kernel, "x", p.kernel,
              " window does not fit a ", p.height, "x", p.width, " input");
  if (!req.ok) return false;
  const int64_t out_h = avg_pool_out_size(p.height, p.kernel, p.stride);
  const int64_t out_w = avg_pool_out_size(p.width, p.kernel, p.stride);
  const int64_t batch = std::max<int64_t>(p.batch, 1);
  const int64_t pixels_limit = kMaxElements / p.channels / batch;
  req.require(p.height <= pixels_limit / p.width && out_h <= pixels_limit / out_w, "tensors of ", p.batch, " x ",
              p.height, " x ", p.width, " x ", p.channels, " elements are too large");
  if (!req.ok) return false;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  req.require(!overlaps(p.output, p.batch * out_h * out_w * p.channels * esize, p.input,
                        p.batch * p.height * p.width * p.channels * esize),
              "output overlaps the input");
  return req.ok;
}

void avg_pool(const AvgPoolParams& p) {
  require_implementable(p, "avg_pool");
  const int64_t out_h = avg_pool_out_size(p.height, p.kernel, p.stride);
  const int64_t out_w = avg_pool_out_size(p.width, p.kernel, p.stride);
  const int64_t pixels = p.batch * out_h * out_w;
  if (pixels == 0) return;
  const int64_t vec = 16 / int64_t(dtype_size(p.dtype));
  const bool vectorised = p.channels % vec == 0 && is_aligned16(p.input) && is_aligned16(p.output);
  PoolArgs a{p.input, p.output, p.height, p.width, out_h, out_w, 0, 0, p.kernel, p.stride};
  const cudaStream_t stream = as_stream(p.stream);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    a.groups = vectorised ? p.channels / vec : p.channels;
    a.items = pixels * a.groups;
    const unsigned blocks = grid_stride_blocks(a.items, kThreads);
    if (vectorised) {
      avg_pool_kernel<T, kVec16<T>><<<blocks, kThreads, 0, stream>>>(a);
    } else {
      avg_pool_kernel<T, 1><<<blocks, kThreads, 0, stream>>>(a);
    }
  });
  check_launch("avg_pool kernel launch");
}

}  // namespace visionrt::kernels
