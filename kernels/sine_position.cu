// Sine position encoding: one CTA per (image, row y). Its threads first find
// the normalised y and x embeds of every x in the row (the running sums are
// short: one feature-map column or row), then write the 2F channels of each
// position, consecutive threads on consecutive channels.
#include <cmath>

#include "kernels/cuda_common.cuh"
#include "kernels/sine_position.hpp"

namespace visionrt::kernels {
namespace {

struct SineArgs {
  const float* mask;
  void* output;
  int height, width, feats;
  float temperature, scale, offset, eps;
  bool normalize;
};

constexpr int kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads) sine_position_kernel(const SineArgs a) {
  __shared__ float y_embed[kMaxSinePositionWidth];
  __shared__ float x_embed[kMaxSinePositionWidth];
  __shared__ float dim_t[kMaxSinePositionFeats];
  const int b = blockIdx.x / a.height, y = blockIdx.x % a.height;
  const float* m = a.mask ? a.mask + int64_t(b) * a.height * a.width : nullptr;
  auto mask_at = [&](int yy, int xx) { return m ? m[int64_t(yy) * a.width + xx] : 1.f; };

  // Same operations, in the same order, as the fp32 reference:
  // temperature ** ((2 * floor(i / 2)) / F).
  for (int i = threadIdx.x; i < a.feats; i += kThreads)
    dim_t[i] = powf(a.temperature, float(2 * (i / 2)) / float(a.feats));

  // The running sums add in index order, as a cumulative sum does.
  for (int x = threadIdx.x; x < a.width; x += kThreads) {
    float ycum = 0.f;
    for (int yy = 0; yy <= y; ++yy) ycum += mask_at(yy, x);
    float ytotal = ycum;
    for (int yy = y + 1; yy < a.height; ++yy) ytotal += mask_at(yy, x);
    float xcum = 0.f;
    for (int xx = 0; xx <= x; ++xx) xcum += mask_at(y, xx);
    float xtotal = xcum;
    for (int xx = x + 1; xx < a.width; ++xx) xtotal += mask_at(y, xx);
    if (a.normalize) {
      ycum = (ycum + a.offset) / (ytotal + a.eps) * a.scale;
      xcum = (xcum + a.offset) / (xtotal + a.eps) * a.scale;
    }
    y_embed[x] = ycum;
    x_embed[x] = xcum;
  }
  __syncthreads();

  const int channels = 2 * a.feats;
  T* out = static_cast<T*>(a.output) + (int64_t(b) * a.height + y) * a.width * channels;
  for (int idx = threadIdx.x; idx < a.width * channels; idx += kThreads) {
    const int x = idx / channels, c = idx % channels;
    const bool y_half = c < a.feats;
    const int i = y_half ? c : c - a.feats;
    const float arg = (y_half ? y_embed[x] : x_embed[x]) / dim_t[i];
    out[idx] = from_float<T>(i % 2 == 0 ? sinf(arg) : cosf(arg));
  }
}

}  // namespace

bool can_implement(const SinePositionParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.batch >= 1 && p.height >= 1 && p.width >= 1, "bad shape ", p.batch, "x", p.height,
              "x", p.width);
  req.require(p.width <= kMaxSinePositionWidth, "width ", p.width, " above ",
              kMaxSinePositionWidth);
  req.require(int64_t(p.batch) * p.height <= 0x7fffffff, "batch * height too large");
  req.require(p.num_pos_feats >= 2 && p.num_pos_feats % 2 == 0 &&
                  p.num_pos_feats <= kMaxSinePositionFeats,
              "num_pos_feats ", p.num_pos_feats, " must be even, 2..", kMaxSinePositionFeats);
  req.require(int64_t(p.width) * 2 * p.num_pos_feats <= 0x7fffffff, "row too large");
  req.require(std::isfinite(p.temperature) && p.temperature > 0.f, "temperature ", p.temperature,
              " must be finite and > 0");
  req.require(std::isfinite(p.scale) && std::isfinite(p.offset) && std::isfinite(p.eps),
              "scale, offset and eps must be finite");
  req.require(p.output, "null output");
  return req.ok;
}

void sine_position(const SinePositionParams& p) {
  require_implementable(p, "sine_position");
  const SineArgs a{p.mask,        p.output, p.height, p.width,  p.num_pos_feats,
                   p.temperature, p.scale,  p.offset, p.eps,    p.normalize};
  const cudaStream_t stream = as_stream(p.stream);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    sine_position_kernel<T><<<unsigned(p.batch * p.height), kThreads, 0, stream>>>(a);
  });
  check_launch("sine_position kernel launch");
}

}  // namespace visionrt::kernels
