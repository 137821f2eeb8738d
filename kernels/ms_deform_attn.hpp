// Multi-scale deformable attention on the GPU, as transformers' RT-DETR and
// Deformable DETR compute it: for every image, query and head, the weighted
// sum of the head's value channels sampled at each of its points in each
// feature level, bilinearly (grid_sample, align_corners=False, zeros
// outside) or at the nearest cell (RT-DETRv2's "discrete" method). The
// value maps are read in place as their projection wrote them.
//
// Given reference boxes (RT-DETR's decoder form, the CPU kernel's fourth
// input), `locations` holds offsets and `weights` logits instead: point p
// of level l is at
//   (cx, cy) + offset_p / (level l's points) * (w, h) * offset_scale
// (each product and the sum rounded apart, in that order), and its weight is
// the softmax of the head's logits over all its points, so neither is
// written out between ops.
//
// One warp per (image, query, head), its lanes over the head's channels:
// the taps of a point are contiguous rows, read coalesced; sums in fp32.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

constexpr int kMaxDeformLevels = 5;

struct MsDeformAttnParams {
  DType dtype = DType::f32;  // of value, locations, weights and output
  int64_t batch = 0, queries = 0;
  int heads = 0, head_dim = 0;
  int levels = 0;
  int level_h[kMaxDeformLevels] = {}, level_w[kMaxDeformLevels] = {};
  int level_points[kMaxDeformLevels] = {};  // per head
  bool discrete = false;
  const void* value = nullptr;      // [batch, sum of h*w, heads * head_dim], levels one after another
  const void* locations = nullptr;  // [batch, queries, heads * points * 2]: x, y in [0, 1]
  const void* weights = nullptr;    // [batch, queries, heads * points]
  // Optional [batch, queries, 4] (cx, cy, w, h): locations are then offsets
  // from them and weights logits, as above.
  const void* boxes = nullptr;
  float offset_scale = 0.5f;  // with boxes: RT-DETR's 0.5
  void* output = nullptr;           // [batch, queries, heads * head_dim]; not overlapping the inputs
  void* stream = nullptr;           // cudaStream_t
};

bool can_implement(const MsDeformAttnParams& p, std::string* why);

// Enqueues the op on p.stream; throws visionrt::Error (unsupported,
// device_error) like every launcher here.
void ms_deform_attn(const MsDeformAttnParams& p);

}  // namespace visionrt::kernels
