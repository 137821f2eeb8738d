// NCHW to NHWC as raw 2- or 4-byte copies (no conversion, so exact). Each
// image is a [C, HW] -> [HW, C] transpose:
//  - few channels (the 3-channel image batch, the case that matters): one
//    thread per output element; a warp writes 32 consecutive elements and
//    reads C runs of about 32 / C consecutive ones, both coalesced enough;
//  - many channels: 32x32 tiles through shared memory, so that reads and
//    writes both run along rows of 32.
#include <algorithm>

#include "kernels/cuda_common.cuh"
#include "kernels/nchw_to_nhwc.hpp"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kTile = 32, kTileRows = 8;  // a 32x8 block moves a 32x32 tile
constexpr int64_t kMaxElements = int64_t(1) << 40;
// Below this many channels a tile's rows would be mostly idle.
constexpr int64_t kTiledMinChannels = 16;
constexpr unsigned kMaxGridYZ = 65535;

struct TransposeArgs {
  const void* input;
  void* output;
  int64_t batch, channels, pixels;  // pixels = H * W
};

template <typename U>
__global__ void __launch_bounds__(kThreads) gather_kernel(const TransposeArgs a, int64_t items) {
  const U* in = static_cast<const U*>(a.input);
  U* out = static_cast<U*>(a.output);
  for (int64_t o = blockIdx.x * int64_t(kThreads) + threadIdx.x; o < items;
       o += int64_t(gridDim.x) * kThreads) {
    const int64_t c = o % a.channels, p = (o / a.channels) % a.pixels;
    const int64_t n = o / (a.channels * a.pixels);
    out[o] = in[(n * a.channels + c) * a.pixels + p];
  }
}

template <typename U>
__global__ void __launch_bounds__(kTile * kTileRows) tiled_kernel(const TransposeArgs a) {
  __shared__ U tile[kTile][kTile + 1];  // +1: column reads hit 32 different banks
  const U* in = static_cast<const U*>(a.input);
  U* out = static_cast<U*>(a.output);
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t n = blockIdx.z; n < a.batch; n += gridDim.z)
    for (int64_t c0 = int64_t(blockIdx.y) * kTile; c0 < a.channels; c0 += int64_t(gridDim.y) * kTile)
      for (int64_t p0 = int64_t(blockIdx.x) * kTile; p0 < a.pixels; p0 += int64_t(gridDim.x) * kTile) {
        for (int i = ty; i < kTile; i += kTileRows) {
          const int64_t c = c0 + i, p = p0 + tx;
          if (c < a.channels && p < a.pixels) tile[i][tx] = in[(n * a.channels + c) * a.pixels + p];
        }
        __syncthreads();
        for (int i = ty; i < kTile; i += kTileRows) {
          const int64_t p = p0 + i, c = c0 + tx;
          if (c < a.channels && p < a.pixels) out[(n * a.pixels + p) * a.channels + c] = tile[tx][i];
        }
        __syncthreads();  // the tile is refilled by the next step
      }
}

template <typename U>
void launch(const TransposeArgs& a, cudaStream_t stream) {
  if (a.channels < kTiledMinChannels) {
    const int64_t items = a.batch * a.channels * a.pixels;
    gather_kernel<U><<<grid_stride_blocks(items, kThreads), kThreads, 0, stream>>>(a, items);
    return;
  }
  const auto tiles = [](int64_t n) { return (n + kTile - 1) / kTile; };
  const dim3 grid(unsigned(std::min<int64_t>(tiles(a.pixels), 8192)),
                  unsigned(std::min<int64_t>(tiles(a.channels), kMaxGridYZ)),
                  unsigned(std::min<int64_t>(a.batch, kMaxGridYZ)));
  tiled_kernel<U><<<grid, dim3(kTile, kTileRows), 0, stream>>>(a);
}

}  // namespace

bool can_implement(const NchwToNhwcParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.batch >= 0 && p.channels >= 1 && p.height >= 1 && p.width >= 1, "bad shape [",
              p.batch, ", ", p.channels, ", ", p.height, ", ", p.width, "]");
  req.require(p.input && p.output, "null input or output");
  if (!req.ok) return false;
  req.require(p.height * p.width <= kMaxElements / p.channels / std::max<int64_t>(p.batch, 1),
              "a tensor of ", p.batch, " x ", p.channels, " x ", p.height, " x ", p.width,
              " elements is too large");
  if (!req.ok) return false;
  const int64_t bytes = p.batch * p.channels * p.height * p.width * int64_t(dtype_size(p.dtype));
  req.require(!overlaps(p.output, bytes, p.input, bytes), "output overlaps the input");
  return req.ok;
}

void nchw_to_nhwc(const NchwToNhwcParams& p) {
  require_implementable(p, "nchw_to_nhwc");
  if (p.batch == 0) return;
  const TransposeArgs a{p.input, p.output, p.batch, p.channels, p.height * p.width};
  if (dtype_size(p.dtype) == 4) {
    launch<uint32_t>(a, as_stream(p.stream));
  } else {
    launch<uint16_t>(a, as_stream(p.stream));
  }
  check_launch("nchw_to_nhwc kernel launch");
}

}  // namespace visionrt::kernels
