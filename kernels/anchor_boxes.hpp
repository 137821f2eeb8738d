// RT-DETR's anchors for its two-stage query selection (_generate_anchors),
// as the CPU backend's anchor_boxes computes them: for cell (y, x) of level
// l's h x w grid, the levels one after another,
//   box = ((x + 0.5) / w, (y + 0.5) / h, 0.05 * 2^l, 0.05 * 2^l)
//   out[n, cell, k] = log(box[k] / (1 - box[k]))   (the box as logits)
// in fp32, as the model computes them. A box with any coordinate outside
// (0.01, 0.99) is invalid: its four values are the dtype's largest finite
// value instead (FLT_MAX, 65504 in f16, 0x1.fep127 in bf16), which
// mask_invalid_anchors recognises. The same anchors for every image n.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

constexpr int kMaxAnchorLevels = 5;

struct AnchorBoxesParams {
  DType dtype = DType::f32;  // of the output
  int64_t batch = 0;
  int levels = 0;
  int level_h[kMaxAnchorLevels] = {}, level_w[kMaxAnchorLevels] = {};
  void* output = nullptr;  // [batch, sum of level_h * level_w, 4]
  void* stream = nullptr;  // cudaStream_t
};

// Refuses unknown types, levels outside 1..kMaxAnchorLevels, an empty
// level, an output past 2^40 bytes and a null output.
bool can_implement(const AnchorBoxesParams& p, std::string* why);

// Enqueues the anchors on p.stream; throws visionrt::Error (unsupported,
// device_error) like every launcher here.
void anchor_boxes(const AnchorBoxesParams& p);

}  // namespace visionrt::kernels
