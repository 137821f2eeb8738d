// RT-DETR's masking of the encoder's memory by its anchors' validity
// (memory * valid_mask), as the CPU backend's mask_invalid_anchors: row r of
// x is copied when all four coordinates of anchor r are below the dtype's
// largest finite value, and zeroed otherwise. anchor_boxes marks an invalid
// anchor with that value; it, infinity and NaN all count as invalid. A
// copy or a zero: nothing rounds.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct MaskInvalidAnchorsParams {
  DType dtype = DType::f32;  // of x, anchors and output
  int64_t rows = 0, dim = 0;    // x is [rows, dim] (every image's rows one after another)
  const void* input = nullptr;    // x [rows, dim]
  const void* anchors = nullptr;  // [rows, 4]
  void* output = nullptr;  // [rows, dim]: x itself (in place) or apart from x; apart from anchors
  void* stream = nullptr;  // cudaStream_t
};

// Refuses unknown types, an empty row, sizes past 2^40 bytes, null pointers,
// an output partly over x and an output over the anchors.
bool can_implement(const MaskInvalidAnchorsParams& p, std::string* why);

// Enqueues the masking on p.stream; throws visionrt::Error (unsupported,
// device_error) like every launcher here.
void mask_invalid_anchors(const MaskInvalidAnchorsParams& p);

}  // namespace visionrt::kernels
