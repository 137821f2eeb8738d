// Token slices as one strided device-to-device copy: `batch` rows of
// count * dim elements, one sequence apart in the input. An asynchronous
// 2-D copy is a memcpy node under graph capture and needs no kernel.
#include "kernels/cuda_common.cuh"
#include "kernels/slice_tokens.hpp"

namespace visionrt::kernels {
namespace {

// cudaMemcpy2DAsync refuses pitches above the device's maximum pitch, which
// is 2^31 - 1 bytes on every current GPU.
constexpr int64_t kMaxPitchBytes = 0x7fffffff;

}  // namespace

bool can_implement(const SliceTokensParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(p.batch >= 0 && p.tokens >= 1 && p.dim >= 1, "bad shape [", p.batch, ", ", p.tokens, ", ", p.dim,
              "]");
  req.require(p.first >= 0 && p.count >= 1 && p.count <= p.tokens && p.first <= p.tokens - p.count, "tokens ",
              p.first, " .. ", p.first + p.count - 1, " outside 0..", p.tokens - 1);
  req.require(p.input && p.output, "null input or output");
  if (!req.ok) return false;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  req.require(p.dim <= kMaxPitchBytes / esize / p.tokens, "a sequence of ", p.tokens, " x ", p.dim,
              " elements is wider than the largest copy pitch (", kMaxPitchBytes, " bytes)");
  req.require(p.batch <= 0x7fffffff, "batch ", p.batch, " above 2^31-1");
  if (!req.ok) return false;
  req.require(!overlaps(p.output, p.batch * p.count * p.dim * esize, p.input, p.batch * p.tokens * p.dim * esize),
              "output overlaps the input");
  return req.ok;
}

void slice_tokens(const SliceTokensParams& p) {
  require_implementable(p, "slice_tokens");
  if (p.batch == 0) return;
  const size_t row_bytes = size_t(p.dim) * dtype_size(p.dtype);
  const char* first = static_cast<const char*>(p.input) + size_t(p.first) * row_bytes;
  check_cuda(cudaMemcpy2DAsync(p.output, size_t(p.count) * row_bytes, first, size_t(p.tokens) * row_bytes,
                               size_t(p.count) * row_bytes, size_t(p.batch), cudaMemcpyDeviceToDevice,
                               as_stream(p.stream)),
             "slice_tokens cudaMemcpy2DAsync");
}

}  // namespace visionrt::kernels
