// Multi-scale deformable attention: one warp per (image, query, head). Every
// lane works out each point's taps (the same few flops in every lane, so
// no shuffle is needed) and sums its own channels of them. With reference
// boxes, every lane also works out the softmax's maximum and sum over the
// head's points (a dozen in RT-DETR) before the first channel, in the CPU
// kernel's order.
#include <cmath>

#include "kernels/cuda_common.cuh"
#include "kernels/ms_deform_attn.hpp"

namespace visionrt::kernels {
namespace {

constexpr int kWarpsPerBlock = 4;

struct Levels {
  int h[kMaxDeformLevels], w[kMaxDeformLevels], points[kMaxDeformLevels];
  int64_t start[kMaxDeformLevels];  // first cell of each level
  int count, total_points;
};

// RT-DETRv2's discrete sampler: trunc(loc * n + 0.5) in float, clamped to
// the map; NaN and anything past int64 give 0, as torch's conversion does.
__device__ __forceinline__ int discrete_cell(float loc, int n) {
  const float v = __fadd_rn(__fmul_rn(loc, float(n)), 0.5f);  // two roundings, as torch: never one FMA
  if (!(v >= 1.f) || !(v < 9.2233720e18f)) return 0;
  return v >= float(n) ? n - 1 : int(v);
}

template <typename T>
__global__ void __launch_bounds__(32 * kWarpsPerBlock)
    ms_deform_attn_kernel(const T* __restrict__ value, const T* __restrict__ locations,
                          const T* __restrict__ weights, const T* __restrict__ boxes, T* __restrict__ output,
                          int64_t rows, int64_t queries, int64_t cells, int heads, int head_dim, bool discrete,
                          float offset_scale, const Levels lv) {
  const int lane = threadIdx.x % 32;
  const int64_t item = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;  // (image, query, head)
  if (item >= rows) return;
  const int64_t r = item / heads;  // (image, query)
  const int h = int(item % heads);
  const int64_t D = int64_t(heads) * head_dim;
  const T* vb = value + (r / queries) * cells * D + int64_t(h) * head_dim;
  const T* lp = locations + item * lv.total_points * 2;
  const T* wp = weights + item * lv.total_points;
  T* o = output + r * D + int64_t(h) * head_dim;
  // The softmax over the head's points, when given logits.
  float top = 0.f, inv_sum = 1.f, cx = 0.f, cy = 0.f, bw = 0.f, bh = 0.f;
  if (boxes) {
    top = to_float(wp[0]);
    for (int p = 1; p < lv.total_points; ++p) {
      const float v = to_float(wp[p]);
      top = top < v ? v : top;  // std::max's comparison, as the CPU's
    }
    float sum = 0.f;
    for (int p = 0; p < lv.total_points; ++p) sum += expf(to_float(wp[p]) - top);
    inv_sum = 1.f / sum;
    const T* box = boxes + r * 4;
    cx = to_float(box[0]);
    cy = to_float(box[1]);
    bw = to_float(box[2]);
    bh = to_float(box[3]);
  }
  for (int c0 = 0; c0 < head_dim; c0 += 32) {
    const int c = c0 + lane;
    const bool mine = c < head_dim;
    float acc = 0.f;
    int p = 0;
    for (int l = 0; l < lv.count; ++l) {
      const int H = lv.h[l], W = lv.w[l];
      const T* vl = vb + lv.start[l] * D;
      auto tap = [&](int y, int x) { return mine ? to_float(vl[(int64_t(y) * W + x) * D + c]) : 0.f; };
      const float n_points = float(lv.points[l]);
      for (int k = 0; k < lv.points[l]; ++k, ++p) {
        float lx = to_float(lp[2 * p]), ly = to_float(lp[2 * p + 1]), w = to_float(wp[p]);
        if (boxes) {
          // box + offset / points * size * scale, each step rounded apart as the CPU's.
          lx = __fadd_rn(cx, __fmul_rn(__fmul_rn(__fdiv_rn(lx, n_points), bw), offset_scale));
          ly = __fadd_rn(cy, __fmul_rn(__fmul_rn(__fdiv_rn(ly, n_points), bh), offset_scale));
          w = expf(w - top) * inv_sum;
        }
        if (discrete) {
          acc += w * tap(discrete_cell(ly, H), discrete_cell(lx, W));
          continue;
        }
        const float x = lx * float(W) - 0.5f, y = ly * float(H) - 0.5f;
        if (!(x > -1.f && x < float(W) && y > -1.f && y < float(H))) continue;  // no tap inside, or NaN
        const float fx0 = floorf(x), fy0 = floorf(y);
        const int x0 = int(fx0), y0 = int(fy0);
        const float fx = x - fx0, fy = y - fy0;
        const bool left = x0 >= 0, right = x0 + 1 < W, top_in = y0 >= 0, bottom = y0 + 1 < H;
        if (top_in && left) acc += w * (1.f - fy) * (1.f - fx) * tap(y0, x0);
        if (top_in && right) acc += w * (1.f - fy) * fx * tap(y0, x0 + 1);
        if (bottom && left) acc += w * fy * (1.f - fx) * tap(y0 + 1, x0);
        if (bottom && right) acc += w * fy * fx * tap(y0 + 1, x0 + 1);
      }
    }
    if (mine) o[c] = from_float<T>(acc);
  }
}

}  // namespace

bool can_implement(const MsDeformAttnParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.batch >= 1 && p.queries >= 1 && p.heads >= 1 && p.head_dim >= 1, "bad shape: batch ", p.batch,
              ", queries ", p.queries, ", heads ", p.heads, ", head_dim ", p.head_dim);
  req.require(p.levels >= 1 && p.levels <= kMaxDeformLevels, "levels ", p.levels, " outside 1..", kMaxDeformLevels);
  req.require(p.value && p.locations && p.weights && p.output, "null value, locations, weights or output");
  req.require(!p.boxes || std::isfinite(p.offset_scale), "offset_scale ", p.offset_scale, " is not finite");
  if (!req.ok) return false;
  int64_t cells = 0, points = 0;
  for (int l = 0; l < p.levels; ++l) {
    req.require(p.level_h[l] >= 1 && p.level_w[l] >= 1 && p.level_points[l] >= 1, "level ", l, ": ", p.level_h[l],
                "x", p.level_w[l], " with ", p.level_points[l], " points");
    cells += int64_t(p.level_h[l]) * p.level_w[l];
    points += p.level_points[l];
  }
  if (!req.ok) return false;
  const int64_t D = int64_t(p.heads) * p.head_dim, rows = p.batch * p.queries * p.heads;
  req.require(rows / kWarpsPerBlock < 0x7fffffff, "too many (image, query, head) rows: ", rows);
  req.require(cells * D < (int64_t(1) << 40) && points <= 4096, "value or point count out of range");
  if (!req.ok) return false;
  const uint64_t es = dtype_size(p.dtype);
  const uint64_t out_bytes = uint64_t(p.batch * p.queries * D) * es;
  req.require(!overlaps(p.output, out_bytes, p.value, uint64_t(p.batch * cells * D) * es) &&
                  !overlaps(p.output, out_bytes, p.locations, uint64_t(p.batch * p.queries * p.heads * points * 2) * es) &&
                  !overlaps(p.output, out_bytes, p.weights, uint64_t(p.batch * p.queries * p.heads * points) * es) &&
                  !(p.boxes && overlaps(p.output, out_bytes, p.boxes, uint64_t(p.batch * p.queries * 4) * es)),
              "output overlaps an input");
  return req.ok;
}

void ms_deform_attn(const MsDeformAttnParams& p) {
  require_implementable(p, "ms_deform_attn");
  Levels lv{};
  lv.count = p.levels;
  int64_t cells = 0;
  for (int l = 0; l < p.levels; ++l) {
    lv.h[l] = p.level_h[l];
    lv.w[l] = p.level_w[l];
    lv.points[l] = p.level_points[l];
    lv.start[l] = cells;
    cells += int64_t(p.level_h[l]) * p.level_w[l];
    lv.total_points += p.level_points[l];
  }
  const int64_t rows = p.batch * p.queries * p.heads;
  const unsigned blocks = unsigned((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    ms_deform_attn_kernel<T><<<blocks, 32 * kWarpsPerBlock, 0, as_stream(p.stream)>>>(
        static_cast<const T*>(p.value), static_cast<const T*>(p.locations), static_cast<const T*>(p.weights),
        static_cast<const T*>(p.boxes), static_cast<T*>(p.output), rows, p.queries, cells, p.heads, p.head_dim,
        p.discrete, p.offset_scale, lv);
  });
  check_launch("ms_deform_attn kernel launch");
}

}  // namespace visionrt::kernels
