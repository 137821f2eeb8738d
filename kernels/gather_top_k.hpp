// RT-DETR's two-stage query selection (topk over the encoder's class
// scores, then a gather of the chosen rows), as the CPU backend's
// gather_top_k: per image n, each row's score is the max over its C score
// columns, and
//   out[n, k] = x[n, row of the k-th greatest score]   for k < count
// greatest first, ties to the lower row. A NaN anywhere in a row's scores
// makes its score +inf, as the CPU ranks it (above every finite score; tied
// with a real +inf, the lower row first). The rows are copied: nothing rounds.
//
// Two kernels: the row maxima into the workspace, then every row's rank
// (how many rows beat it) found in parallel, each row with a rank below
// count copied to that place. A rank is the sorted position, since
// "beats" is a strict total order; no sort, no atomics, deterministic.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct GatherTopKParams {
  DType dtype = DType::f32;  // of x, scores and output
  int64_t batch = 0, rows = 0;  // images, rows per image (S)
  int64_t width = 0;            // E, elements of a row of x
  int64_t score_cols = 0;       // C
  int64_t count = 0;            // rows kept per image, 1..rows
  const void* input = nullptr;   // x [batch, rows, width]
  const void* scores = nullptr;  // [batch, rows, score_cols]
  void* output = nullptr;        // [batch, count, width]; not overlapping anything else
  void* workspace = nullptr;     // gather_top_k_workspace_bytes(p) of device scratch, 16-byte aligned
  size_t workspace_bytes = 0;
  void* stream = nullptr;  // cudaStream_t
};

// The row maxima: batch * rows floats.
size_t gather_top_k_workspace_bytes(const GatherTopKParams& p);

// Refuses unknown types, an empty row, count outside 1..rows, more than
// 2^31 rows in all, sizes past 2^40 bytes, null pointers, a missing or
// misaligned workspace and an output overlapping an input or the workspace.
bool can_implement(const GatherTopKParams& p, std::string* why);

// Enqueues both kernels on p.stream; throws visionrt::Error (unsupported,
// device_error) like every launcher here.
void gather_top_k(const GatherTopKParams& p);

}  // namespace visionrt::kernels
