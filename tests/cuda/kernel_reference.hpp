// CPU references for the CUDA kernels, computed in double from the same
// (already rounded) inputs the kernels read.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels::reference {

// Attention over strided Q/K/V buffers laid out as the kernel reads them:
// row (b, s) of Q starts at q[(b * q_len + s) * q_stride + q_offset].
struct AttentionShape {
  int batch = 0, heads = 0, head_dim = 0, q_len = 0, kv_len = 0;
  int64_t q_stride = 0, k_stride = 0, v_stride = 0;
  int64_t q_offset = 0, k_offset = 0, v_offset = 0;
  double scale = 0.0;
};

// Returns [batch, q_len, heads * head_dim]; rows whose keys are all masked
// (mask [batch, kv_len], 0 = padded) are zeros.
std::vector<double> attention(const AttentionShape& s, const std::vector<double>& q,
                              const std::vector<double>& k, const std::vector<double>& v,
                              const std::vector<float>* mask);

// Two-pass LayerNorm of each row of x [rows, cols].
std::vector<double> layer_norm(int64_t rows, int64_t cols, const std::vector<double>& x,
                               const std::vector<double>& gamma, const std::vector<double>& beta,
                               double eps);

double gelu_erf(double x);

// Row softmax; -inf entries get 0, an all -inf row gives zeros.
std::vector<double> softmax(int64_t rows, int64_t cols, const std::vector<double>& x);

// Patch embedding as the strided convolution plus class token and position
// embedding (any of bias, cls, pos may be empty). Returns [batch, tokens, dim].
// When abs_terms is given it receives, per output, the sum of the absolute
// values of every term that makes it up (the scale of its rounding error).
struct PatchShape {
  int batch = 0, channels = 0, height = 0, width = 0, patch = 0, dim = 0;
};
std::vector<double> patch_embed(const PatchShape& s, const std::vector<double>& pixels,
                                const std::vector<double>& weight, const std::vector<double>& bias,
                                const std::vector<double>& cls, const std::vector<double>& pos,
                                std::vector<double>* abs_terms);

// DETR sine position encoding, [batch, height * width, 2 * feats], mask
// [batch, height, width] (empty: no padding). `args` receives each output's
// sine/cosine argument.
struct SineShape {
  int batch = 0, height = 0, width = 0, feats = 0;
  double temperature = 10000.0, scale = 0.0, offset = 0.0, eps = 1e-6;
  bool normalize = true;
};
std::vector<double> sine_position(const SineShape& s, const std::vector<float>& mask,
                                  std::vector<double>* args);

// Linear layer before its activation: x [m, k] . w [n, k]^T + bias [n] +
// residual [m, n], row-major (bias and residual may be empty). abs_terms, when
// given, receives per output the sum of the absolute values of its terms.
std::vector<double> linear(int64_t m, int64_t n, int64_t k, const std::vector<double>& x,
                           const std::vector<double>& w, const std::vector<double>& bias,
                           const std::vector<double>& residual, std::vector<double>* abs_terms);

// GELU's tanh approximation, 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
double gelu_tanh(double x);

// ViT's token sequence, [batch, tokens + 1, dim]: cls + pos[0] first, then
// input[n, t] + pos[1 + t] (input [batch, tokens, dim], pos [tokens + 1, dim]).
std::vector<double> embed_tokens(int64_t batch, int64_t tokens, int64_t dim,
                                 const std::vector<double>& input, const std::vector<double>& cls,
                                 const std::vector<double>& pos);

// Token `index` of every sequence of x [batch, tokens, dim]: [batch, dim].
std::vector<double> select_token(int64_t batch, int64_t tokens, int64_t dim, int64_t index,
                                 const std::vector<double>& x);

// Each value (exact in fp32) rounded to nearest even in `to` by core/half.hpp.
std::vector<double> cast(DType to, const std::vector<double>& values);

// `count` copies of `input`, back to back.
std::vector<uint8_t> expand(const std::vector<uint8_t>& input, int64_t count);

// Bicubic resampling of a position table [1 + in_h * in_w, dim] to
// [1 + out_h * out_w, dim] as the CPU backend's resample_position: source
// coordinates and tap indices in fp32 exactly as there, weights and sums in
// double. abs_taps, when given, receives per output the sum of the absolute
// values of its 16 taps (the scale of its rounding error); 0 for the copied row.
std::vector<double> resample_position(int in_h, int in_w, int out_h, int out_w, int64_t dim,
                                      const std::vector<double>& table,
                                      std::vector<double>* abs_taps);

// Convolution of NHWC x [n, h, w, ci] with the KRSC weight [co, kh, kw, ci],
// zero padding, no bias: [n, ho, wo, co]. abs_terms, when given, receives per
// output the sum of the absolute values of its products.
struct ConvGeometry {
  int64_t n = 0, h = 0, w = 0, ci = 0, co = 0, kh = 0, kw = 0;
  int64_t stride = 1, pad = 0, dilation = 1;
  int64_t out_h() const { return (h + 2 * pad - dilation * (kh - 1) - 1) / stride + 1; }
  int64_t out_w() const { return (w + 2 * pad - dilation * (kw - 1) - 1) / stride + 1; }
};
std::vector<double> conv2d(const ConvGeometry& s, const std::vector<double>& x,
                           const std::vector<double>& weight, std::vector<double>* abs_terms);

// Max pooling of NHWC x [n, h, w, c] as the CPU backend's max_pool: taps in
// the padding are -inf, NaN taps never win. Returns [n, out_h, out_w, c].
std::vector<double> max_pool(int64_t n, int64_t h, int64_t w, int64_t c, int kernel, int stride,
                             int pad, const std::vector<double>& x);

// The CPU backend's mask_resize: nearest source pixel with the scale and the
// index product in fp32, then 1 where the source is non-zero.
std::vector<float> mask_resize(int64_t n, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w,
                               const std::vector<float>& mask);

// NCHW to NHWC of elements of `element_bytes` bytes each.
std::vector<uint8_t> nchw_to_nhwc(int64_t n, int64_t c, int64_t h, int64_t w, size_t element_bytes,
                                  const std::vector<uint8_t>& input);

}  // namespace visionrt::kernels::reference
