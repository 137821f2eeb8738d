// Zero padding: a grid-stride loop over the output's pixels times channel
// groups, each writing its input's group or zeros; neighbouring threads
// touch neighbouring channels (coalesced in NHWC). A group is a 16-byte
// vector when the channel count and both pointers allow it, one element
// otherwise. The values are moved as bits, never converted.
#include <algorithm>

#include "kernels/cuda_common.cuh"
#include "kernels/pad_spatial.hpp"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
// Keeps every element index, and the byte counts in can_implement, in range.
constexpr int64_t kMaxElements = int64_t(1) << 31;

struct PadArgs {
  const void* input;
  void* output;
  int64_t height, width, out_h, out_w;
  int64_t groups;  // units per pixel
  int64_t items;   // out pixels * groups
  int64_t before;
};

// U: the unit moved, an element's bits or a 16-byte vector of them.
template <typename U>
__global__ void __launch_bounds__(kThreads) pad_spatial_kernel(const PadArgs a) {
  const U* in = static_cast<const U*>(a.input);
  U* out = static_cast<U*>(a.output);
  for (int64_t item = blockIdx.x * int64_t(kThreads) + threadIdx.x; item < a.items;
       item += int64_t(gridDim.x) * kThreads) {
    const int64_t g = item % a.groups, pixel = item / a.groups;
    const int64_t x = pixel % a.out_w - a.before, y = (pixel / a.out_w) % a.out_h - a.before;
    const int64_t n = pixel / (a.out_w * a.out_h);
    U v{};  // all-zero bits: +0 in every float type
    if (y >= 0 && y < a.height && x >= 0 && x < a.width) v = in[((n * a.height + y) * a.width + x) * a.groups + g];
    out[item] = v;
  }
}

template <typename U>
void launch(const PadArgs& a, cudaStream_t stream) {
  pad_spatial_kernel<U><<<grid_stride_blocks(a.items, kThreads), kThreads, 0, stream>>>(a);
}

}  // namespace

bool can_implement(const PadSpatialParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.batch >= 0 && p.height >= 1 && p.width >= 1 && p.channels >= 1, "bad shape [", p.batch, ", ",
              p.height, ", ", p.width, ", ", p.channels, "]");
  req.require(p.before >= 0 && p.after >= 0, "bad padding: ", p.before, " before, ", p.after, " after");
  req.require(p.input && p.output, "null input or output");
  if (!req.ok) return false;
  for (int64_t v : {p.height, p.width, p.channels})
    req.require(v < kMaxElements, "sizes must stay below 2^31, not ", v);
  if (!req.ok) return false;
  const int64_t out_h = p.height + p.before + p.after, out_w = p.width + p.before + p.after;
  const int64_t batch = std::max<int64_t>(p.batch, 1);
  const int64_t pixels_limit = kMaxElements / p.channels / batch;
  req.require(out_h <= pixels_limit / out_w, "tensors of ", p.batch, " x ", out_h, " x ", out_w, " x ",
              p.channels, " elements are too large");
  if (!req.ok) return false;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  req.require(!overlaps(p.output, p.batch * out_h * out_w * p.channels * esize, p.input,
                        p.batch * p.height * p.width * p.channels * esize),
              "output overlaps the input");
  return req.ok;
}

void pad_spatial(const PadSpatialParams& p) {
  require_implementable(p, "pad_spatial");
  const int64_t out_h = p.height + p.before + p.after, out_w = p.width + p.before + p.after;
  const int64_t pixels = p.batch * out_h * out_w;
  if (pixels == 0) return;
  const int64_t esize = int64_t(dtype_size(p.dtype)), vec = 16 / esize;
  const bool vectorised = p.channels % vec == 0 && is_aligned16(p.input) && is_aligned16(p.output);
  const int64_t groups = vectorised ? p.channels / vec : p.channels;
  const PadArgs a{p.input, p.output, p.height, p.width, out_h, out_w, groups, pixels * groups, p.before};
  const cudaStream_t stream = as_stream(p.stream);
  if (vectorised) launch<uint4>(a, stream);
  else if (esize == 4) launch<uint32_t>(a, stream);
  else launch<uint16_t>(a, stream);
  check_launch("pad_spatial kernel launch");
}

}  // namespace visionrt::kernels
