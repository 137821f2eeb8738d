// Nearest upsampling: a grid-stride loop over the output in units of the
// widest word (16, 8, 4 or 2 bytes) that divides a pixel's bytes and both
// pointers' alignment; consecutive threads copy consecutive words of one
// pixel, read from its source pixel (coalesced in NHWC).
#include "kernels/cuda_common.cuh"
#include "kernels/upsample_nearest.hpp"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBytes = int64_t(1) << 40;  // keeps byte counts from overflowing
constexpr int kMaxFactor = 64;

struct UpsampleArgs {
  const void* input;
  void* output;
  int64_t height, width, units;  // units: words per pixel
  int64_t items;                 // output pixels * units
  int factor;
};

template <typename Word>
__global__ void __launch_bounds__(kThreads) upsample_nearest_kernel(const UpsampleArgs a) {
  const Word* in = static_cast<const Word*>(a.input);
  Word* out = static_cast<Word*>(a.output);
  const int64_t out_w = a.width * a.factor, out_h = a.height * a.factor;
  for (int64_t item = blockIdx.x * int64_t(kThreads) + threadIdx.x; item < a.items;
       item += int64_t(gridDim.x) * kThreads) {
    const int64_t u = item % a.units, pixel = item / a.units;
    const int64_t ox = pixel % out_w, oy = (pixel / out_w) % out_h, n = pixel / (out_w * out_h);
    out[item] = in[((n * a.height + oy / a.factor) * a.width + ox / a.factor) * a.units + u];
  }
}

template <typename Word>
void launch(const UpsampleNearestParams& p, int64_t pixel_bytes, cudaStream_t stream) {
  UpsampleArgs a{p.input, p.output, p.height, p.width, pixel_bytes / int64_t(sizeof(Word)), 0, p.factor};
  a.items = p.batch * p.height * p.factor * p.width * p.factor * a.units;
  upsample_nearest_kernel<Word><<<grid_stride_blocks(a.items, kThreads), kThreads, 0, stream>>>(a);
}

bool fits_word(const UpsampleNearestParams& p, int64_t pixel_bytes, int64_t word) {
  return pixel_bytes % word == 0 && is_aligned(p.input, uintptr_t(word)) && is_aligned(p.output, uintptr_t(word));
}

}  // namespace

bool can_implement(const UpsampleNearestParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.batch >= 0 && p.height >= 1 && p.width >= 1 && p.channels >= 1, "bad shape [", p.batch, ", ",
              p.height, ", ", p.width, ", ", p.channels, "]");
  req.require(p.factor >= 1 && p.factor <= kMaxFactor, "factor ", p.factor, " outside 1..", kMaxFactor);
  req.require(p.input && p.output, "null input or output");
  if (!req.ok) return false;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  const int64_t limit = kMaxBytes / (int64_t(p.factor) * p.factor) / esize / p.channels;
  req.require(p.height <= limit / p.width && std::max<int64_t>(p.batch, 1) <= limit / (p.height * p.width),
              "an output of ", p.batch, " x ", p.height, " x ", p.width, " x ", p.channels, " x ", p.factor,
              "^2 elements is too large");
  if (!req.ok) return false;
  const int64_t in_bytes = p.batch * p.height * p.width * p.channels * esize;
  req.require(!overlaps(p.output, uint64_t(in_bytes) * p.factor * p.factor, p.input, uint64_t(in_bytes)),
              "output overlaps the input");
  return req.ok;
}

void upsample_nearest(const UpsampleNearestParams& p) {
  require_implementable(p, "upsample_nearest");
  if (p.batch == 0) return;
  const int64_t pixel_bytes = p.channels * int64_t(dtype_size(p.dtype));
  const cudaStream_t stream = as_stream(p.stream);
  if (fits_word(p, pixel_bytes, 16))
    launch<uint4>(p, pixel_bytes, stream);
  else if (fits_word(p, pixel_bytes, 8))
    launch<uint2>(p, pixel_bytes, stream);
  else if (fits_word(p, pixel_bytes, 4))
    launch<uint32_t>(p, pixel_bytes, stream);
  else
    launch<uint16_t>(p, pixel_bytes, stream);
  check_launch("upsample_nearest kernel launch");
}

}  // namespace visionrt::kernels
