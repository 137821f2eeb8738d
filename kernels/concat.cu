// Concatenation: one grid-stride loop over the output in units of the
// widest word (16, 8, 4 or 2 bytes) that divides both blocks' bytes and the
// three pointers' alignment. Output word i of outer index o comes from a's
// block o when i falls in a's part, else from b's: each thread's read and
// write are both contiguous with its neighbours' (coalesced).
#include "kernels/concat.hpp"
#include "kernels/cuda_common.cuh"

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBytes = int64_t(1) << 40;  // keeps byte counts from overflowing

template <typename Word>
__global__ void __launch_bounds__(kThreads)
    concat_kernel(const Word* __restrict__ a, const Word* __restrict__ b, Word* __restrict__ out, int64_t a_words,
                  int64_t b_words, int64_t items) {
  const int64_t row = a_words + b_words;
  for (int64_t item = blockIdx.x * int64_t(kThreads) + threadIdx.x; item < items;
       item += int64_t(gridDim.x) * kThreads) {
    const int64_t o = item / row, i = item % row;
    out[item] = i < a_words ? a[o * a_words + i] : b[o * b_words + (i - a_words)];
  }
}

template <typename Word>
void launch(const ConcatParams& p, int64_t a_bytes, int64_t b_bytes, cudaStream_t stream) {
  const int64_t a_words = a_bytes / int64_t(sizeof(Word)), b_words = b_bytes / int64_t(sizeof(Word));
  const int64_t items = p.outer * (a_words + b_words);
  concat_kernel<Word><<<grid_stride_blocks(items, kThreads), kThreads, 0, stream>>>(
      static_cast<const Word*>(p.a), static_cast<const Word*>(p.b), static_cast<Word*>(p.output), a_words, b_words,
      items);
}

bool fits_word(const ConcatParams& p, int64_t a_bytes, int64_t b_bytes, int64_t word) {
  const auto w = uintptr_t(word);
  return a_bytes % word == 0 && b_bytes % word == 0 && is_aligned(p.a, w) && is_aligned(p.b, w) &&
         is_aligned(p.output, w);
}

}  // namespace

bool can_implement(const ConcatParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.outer >= 0 && p.a_inner >= 0 && p.b_inner >= 0, "bad shape: ", p.outer, " blocks of ", p.a_inner,
              " and ", p.b_inner, " elements");
  req.require(p.a && p.b && p.output, "null input or output");
  if (!req.ok) return false;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  const int64_t row_limit = kMaxBytes / esize;
  req.require(p.a_inner <= row_limit - p.b_inner &&
                  p.outer <= row_limit / std::max<int64_t>(p.a_inner + p.b_inner, 1),
              "an output of ", p.outer, " x (", p.a_inner, " + ", p.b_inner, ") elements is too large");
  if (!req.ok) return false;
  const uint64_t a_bytes = uint64_t(p.outer * p.a_inner * esize), b_bytes = uint64_t(p.outer * p.b_inner * esize);
  req.require(!overlaps(p.output, a_bytes + b_bytes, p.a, a_bytes) &&
                  !overlaps(p.output, a_bytes + b_bytes, p.b, b_bytes),
              "output overlaps an input");
  return req.ok;
}

void concat(const ConcatParams& p) {
  require_implementable(p, "concat");
  if (p.outer == 0 || p.a_inner + p.b_inner == 0) return;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  const int64_t a_bytes = p.a_inner * esize, b_bytes = p.b_inner * esize;
  const cudaStream_t stream = as_stream(p.stream);
  if (fits_word(p, a_bytes, b_bytes, 16))
    launch<uint4>(p, a_bytes, b_bytes, stream);
  else if (fits_word(p, a_bytes, b_bytes, 8))
    launch<uint2>(p, a_bytes, b_bytes, stream);
  else if (fits_word(p, a_bytes, b_bytes, 4))
    launch<uint32_t>(p, a_bytes, b_bytes, stream);
  else
    launch<uint16_t>(p, a_bytes, b_bytes, stream);
  check_launch("concat kernel launch");
}

}  // namespace visionrt::kernels
