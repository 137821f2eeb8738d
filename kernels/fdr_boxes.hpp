// D-FINE's fine-grained distribution refinement, as the CPU backend's
// fdr_boxes and transformers' DFineIntegral then distance2bbox: for each of
// `rows` boxes (cx, cy, w, h) and its corner logits, 4 runs of bins + 1
// (left, top, right, bottom),
//   d_s = sum_i softmax(logits_s)_i * W_i
//   x1 = cx - (rs / 2 + d_0) w / rs    y1 = cy - (rs / 2 + d_1) h / rs
//   x2 = cx + (rs / 2 + d_2) w / rs    y2 = cy + (rs / 2 + d_3) h / rs
//   out = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
// with rs = |reg_scale| and W transformers' weighting_function(bins, up,
// reg_scale): [-2 ub, 1 - step^(bins/2 - 1), ..., 1 - step, 0, step - 1, ...,
// step^(bins/2 - 1) - 1, 2 ub], ub = |up| rs, step = (ub + 1)^(2 / (bins -
// 2)) ([-2 ub, 0, 2 ub] for 2 bins). All in fp32 (the softmax with its
// maximum taken out), the output rounded once to the dtype. A NaN or +inf
// logit, or a side all -inf, makes that box NaN, as in torch.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct FdrBoxesParams {
  DType dtype = DType::f32;  // of corners, boxes and output
  int64_t rows = 0;          // boxes (batch * queries)
  int bins = 0;              // D-FINE's max_num_bins: even, 2..1024; a side has bins + 1 logits
  float up = 0.5f, reg_scale = 4.f;
  const void* corners = nullptr;  // [rows, 4 * (bins + 1)]
  const void* boxes = nullptr;    // [rows, 4]
  void* output = nullptr;         // [rows, 4]; must not overlap an input
  void* stream = nullptr;         // cudaStream_t
};

// Refuses unknown types, a negative row count, bins odd or outside
// 2..1024, a reg_scale zero or not finite, an up not finite, sizes past
// 2^40 bytes, null pointers and an output overlapping an input.
bool can_implement(const FdrBoxesParams& p, std::string* why);

// Enqueues the refinement on p.stream; throws visionrt::Error (unsupported,
// device_error) like every launcher here.
void fdr_boxes(const FdrBoxesParams& p);

}  // namespace visionrt::kernels
