// A slice of the last dimension, as the CPU backend's slice_last (D-FINE's
// encoder splits channels with it): for each of `rows` rows of `cols`
// elements,
//   out[r, j] = x[r, offset + j]   for j < width
// The elements are copied: nothing rounds.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct SliceLastParams {
  DType dtype = DType::f32;  // of input and output
  int64_t rows = 0, cols = 0;  // the input, [rows, cols]
  int64_t offset = 0, width = 0;  // the columns kept
  const void* input = nullptr;
  void* output = nullptr;  // [rows, width]; must not overlap the input
  void* stream = nullptr;  // cudaStream_t
};

// Refuses unknown types, a negative row count, columns outside the row,
// sizes past 2^40 bytes, null pointers and an output overlapping the input.
bool can_implement(const SliceLastParams& p, std::string* why);

// Enqueues the copy on p.stream; throws visionrt::Error (unsupported,
// device_error) like every launcher here.
void slice_last(const SliceLastParams& p);

}  // namespace visionrt::kernels
