// D-FINE's localization quality statistics, as the CPU backend's lqe_stat
// and transformers' DFineLQE before its MLP: for each of the 4 sides of
// each of `rows` boxes, the softmax of its bins + 1 logits (its maximum
// taken out, in fp32), then
//   out[row, side] = [p_(1), ..., p_(count), (p_(1) + ... + p_(count)) / count]
// the `count` greatest probabilities, greatest first, and their mean; each
// output rounded once to the dtype. NaN ranks above every number, as in
// torch.topk: a side with a NaN or +inf logit, or all -inf, has only NaN
// probabilities and gives NaN throughout, as in torch. Ties keep the lower
// index (the same values either way).
#pragma once
#include <cstdint>
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct LqeStatParams {
  DType dtype = DType::f32;  // of corners and output
  int64_t rows = 0;          // boxes (batch * queries)
  int bins = 0;              // D-FINE's max_num_bins: even, 2..1024; a side has bins + 1 logits
  int count = 0;             // probabilities kept per side, 1..bins + 1
  const void* corners = nullptr;  // [rows, 4 * (bins + 1)]
  void* output = nullptr;         // [rows, 4 * (count + 1)]; must not overlap the corners
  void* stream = nullptr;         // cudaStream_t
};

// Refuses unknown types, a negative row count, bins odd or outside
// 2..1024, count outside 1..bins + 1, sizes past 2^40 bytes, null pointers
// and an output overlapping the input.
bool can_implement(const LqeStatParams& p, std::string* why);

// Enqueues the statistics on p.stream; throws visionrt::Error (unsupported,
// device_error) like every launcher here.
void lqe_stat(const LqeStatParams& p);

}  // namespace visionrt::kernels
