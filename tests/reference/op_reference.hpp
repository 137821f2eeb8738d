// The tests' one reference for every graph op, in double: the backend-ops
// test (every op on every backend, through the executor) and the CUDA
// kernel tests (each kernel launched on its own) both compare against these.
// Each takes the values its kernel reads (already rounded to the kernel's
// dtype) as doubles, in the op's row-major layout, and returns the op's
// result; where a comment says so, it keeps a kernel's fp32 index arithmetic
// so that both pick the same source element.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/dtype.hpp"
#include "graph/graph.hpp"

namespace visionrt::reference {

// ---- element-wise ----------------------------------------------------------------

double gelu_erf(double x);
// GELU's tanh approximation, 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
double gelu_tanh(double x);
double relu(double x);
double sigmoid(double x);
// The activation op, one element.
double activation(Activation a, double x);

std::vector<double> add(const std::vector<double>& a, const std::vector<double>& b);

// Each value (exact in fp32) rounded to nearest even in `to` by core/half.hpp.
std::vector<double> cast(DType to, const std::vector<double>& values);

std::vector<double> zeros_like(size_t count);

// ---- transformer ops -----------------------------------------------------------------

// Row softmax; -inf entries get 0, an all -inf row gives zeros.
std::vector<double> softmax(int64_t rows, int64_t cols, const std::vector<double>& x);

// Attention over strided Q/K/V buffers laid out as the kernels read them:
// row (b, s) of Q starts at q[(b * q_len + s) * q_stride + q_offset].
struct AttentionShape {
  int batch = 0, heads = 0, head_dim = 0, q_len = 0, kv_len = 0;
  int64_t q_stride = 0, k_stride = 0, v_stride = 0;
  int64_t q_offset = 0, k_offset = 0, v_offset = 0;
  double scale = 0.0;
};

// Returns [batch, q_len, heads * head_dim]. mask [batch, kv_len] (empty:
// none): 0 marks a padded key, whose K and V rows are never read (they may
// hold anything); rows whose keys are all padded are zeros.
std::vector<double> attention(const AttentionShape& s, const std::vector<double>& q,
                              const std::vector<double>& k, const std::vector<double>& v,
                              const std::vector<double>& mask);

// Two-pass LayerNorm of each row of x [rows, cols].
std::vector<double> layer_norm(int64_t rows, int64_t cols, const std::vector<double>& x,
                               const std::vector<double>& gamma, const std::vector<double>& beta,
                               double eps);

// Linear layer before its activation: x [m, k] . w [n, k]^T + bias [n] +
// residual [m, n], row-major (bias and residual may be empty). abs_terms, when
// given, receives per output the sum of the absolute values of its terms.
std::vector<double> linear(int64_t m, int64_t n, int64_t k, const std::vector<double>& x,
                           const std::vector<double>& w, const std::vector<double>& bias,
                           const std::vector<double>& residual, std::vector<double>* abs_terms);

// The epilogue linear and conv2d share, over outputs whose last dimension is
// `channels`: the bias per channel, then the activation and the residual
// (both optional, bias and residual empty when absent) in `order`.
std::vector<double> epilogue(std::vector<double> sum, int64_t channels, const std::vector<double>& bias,
                             Activation act, ResidualOrder order,
                             const std::vector<double>& residual);

// Patch embedding as the strided convolution plus class token and position
// embedding (any of bias, cls, pos may be empty; the graph's patch_embed has
// neither cls nor pos). Returns [batch, tokens, dim]. When abs_terms is given
// it receives, per output, the sum of the absolute values of every term that
// makes it up (the scale of its rounding error).
struct PatchShape {
  int batch = 0, channels = 0, height = 0, width = 0, patch = 0, dim = 0;
};
std::vector<double> patch_embed(const PatchShape& s, const std::vector<double>& pixels,
                                const std::vector<double>& weight, const std::vector<double>& bias,
                                const std::vector<double>& cls, const std::vector<double>& pos,
                                std::vector<double>* abs_terms);

// ViT's token sequence, [batch, prefix_rows + tokens, dim]: the prefix rows
// first, then input[n, t] + pos[t] (input [batch, tokens, dim], prefix
// [prefix_rows, dim], pos [tokens, dim]).
std::vector<double> embed_tokens(int64_t batch, int64_t tokens, int64_t dim, int64_t prefix_rows,
                                 const std::vector<double>& input, const std::vector<double>& prefix,
                                 const std::vector<double>& pos);

// The mean of tokens first .. tokens-1 of x [batch, tokens, dim]: [batch, dim].
std::vector<double> mean_tokens(int64_t batch, int64_t tokens, int64_t dim, int64_t first,
                                const std::vector<double>& x);

// Tokens first .. first+count-1 of every sequence of x [batch, tokens, dim].
std::vector<double> slice_tokens(int64_t batch, int64_t tokens, int64_t dim, int64_t first, int64_t count,
                                 const std::vector<double>& x);

// Token `index` of every sequence of x [batch, tokens, dim]: [batch, dim].
std::vector<double> select_token(int64_t batch, int64_t tokens, int64_t dim, int64_t index,
                                 const std::vector<double>& x);

// Bicubic resampling of a position grid [in_h * in_w, dim] to
// [out_h * out_w, dim] as the CPU backend's resample_position: source
// coordinates and tap indices in fp32 exactly as there, weights and sums in
// double. abs_taps, when given, receives per output the sum of the absolute
// values of its taps (the scale of its rounding error). With antialias:
// torch's antialiased bicubic (A = -0.5, support 2 * max(1, in/out), the
// weights normalised to sum 1), tap ranges in fp32 as torch picks them.
std::vector<double> resample_position(int in_h, int in_w, int out_h, int out_w, int64_t dim,
                                      const std::vector<double>& table,
                                      std::vector<double>* abs_taps, bool antialias = false);

// `count` copies of `input`, back to back: of values, or of bytes where a
// kernel test checks the copy bit for bit.
template <typename T>
std::vector<T> expand(const std::vector<T>& input, int64_t count) {
  std::vector<T> out;
  for (int64_t i = 0; i < count; ++i) out.insert(out.end(), input.begin(), input.end());
  return out;
}

// ---- CNN backbone and DETR ops -------------------------------------------------------

// Convolution of NHWC x [n, h, w, ci] with the KRSC weight [co, kh, kw,
// ci / groups], zero padding, before the epilogue: [n, ho, wo, co]. With
// groups > 1, output channel co reads the input channels of its group only,
// group co / (co / groups) (torch's Conv2d(groups=...); depthwise when
// groups == ci). abs_terms, when given, receives per output the sum of the
// absolute values of its products.
struct ConvGeometry {
  int64_t n = 0, h = 0, w = 0, ci = 0, co = 0, kh = 0, kw = 0;
  int64_t stride = 1, pad = 0, dilation = 1;
  int64_t groups = 1;
  int64_t out_h() const { return (h + 2 * pad - dilation * (kh - 1) - 1) / stride + 1; }
  int64_t out_w() const { return (w + 2 * pad - dilation * (kw - 1) - 1) / stride + 1; }
};
std::vector<double> conv2d(const ConvGeometry& s, const std::vector<double>& x,
                           const std::vector<double>& weight, std::vector<double>* abs_terms);

// Max pooling of NHWC x [n, h, w, c] as the CPU backend's max_pool: taps in
// the padding are -inf, NaN taps never win. Returns [n, out_h, out_w, c].
std::vector<double> max_pool(int64_t n, int64_t h, int64_t w, int64_t c, int kernel, int stride,
                             int pad, const std::vector<double>& x);

// NCHW to NHWC of elements of `element_size` consecutive T each (1 for
// values; a dtype's size where a kernel test moves bytes).
template <typename T>
std::vector<T> nchw_to_nhwc(int64_t n, int64_t c, int64_t h, int64_t w, const std::vector<T>& input,
                            size_t element_size = 1) {
  std::vector<T> out(input.size());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < h * w; ++p)
        std::memcpy(&out[size_t((b * h * w + p) * c + ch) * element_size],
                    &input[size_t((b * c + ch) * h * w + p) * element_size], element_size * sizeof(T));
  return out;
}

// [n, h, w, c] as [n, h * w, c]: the same elements in the same order.
std::vector<double> flatten_spatial(const std::vector<double>& x);

// The CPU backend's mask_resize of mask [n, in_h, in_w]: nearest source
// pixel with the scale and the index product in fp32, then 1 where the
// source is non-zero.
std::vector<double> mask_resize(int64_t n, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w,
                                const std::vector<double>& mask);

// DETR sine position encoding, [batch, height * width, 2 * feats], mask
// [batch, height, width] (empty: no padding). `args` receives each output's
// sine/cosine argument.
struct SineShape {
  int batch = 0, height = 0, width = 0, feats = 0;
  double temperature = 10000.0, scale = 0.0, offset = 0.0, eps = 1e-6;
  bool normalize = true;
};
std::vector<double> sine_position(const SineShape& s, const std::vector<double>& mask,
                                  std::vector<double>* args);

// Multi-scale deformable attention as transformers computes it, value
// [batch, sum of h*w, heads * head_dim], locations [batch, queries, heads *
// points * 2], weights [batch, queries, heads * points] -> [batch, queries,
// heads * head_dim]. Bilinear: grid_sample with align_corners=False and
// zeros outside (the cell centre of column i at x = (i + 0.5) / w).
// Discrete: the cell trunc(x * w + 0.5) clamped to the map, the product in
// fp32 as RT-DETRv2's multi_scale_deformable_attention_v2 rounds it.
struct DeformShape {
  int64_t batch = 0, queries = 0, heads = 0, head_dim = 0;
  std::vector<int64_t> level_h, level_w, level_points;
  bool discrete = false;
};
std::vector<double> ms_deform_attn(const DeformShape& s, const std::vector<double>& value,
                                   const std::vector<double>& locations, const std::vector<double>& weights);

// ---- real-time DETR ops (op_reference_detection.cpp) ---------------------------------

// RT-DETR's form of ms_deform_attn: offsets [batch, queries, heads * points
// * 2] from reference boxes [batch, queries, 4] (each point at (cx, cy) +
// offset / (its level's points) * (w, h) * offset_scale) and weight logits,
// softmaxed over each head's points.
std::vector<double> ms_deform_attn_from_boxes(const DeformShape& s, double offset_scale,
                                              const std::vector<double>& value,
                                              const std::vector<double>& offsets,
                                              const std::vector<double>& logits,
                                              const std::vector<double>& boxes);

// AvgPool2d(kernel, stride, 0, ceil_mode=True) of NHWC x: a last partial
// window averages the cells it covers.
std::vector<double> avg_pool(int64_t n, int64_t h, int64_t w, int64_t c, int kernel, int stride,
                             const std::vector<double>& x);

// Each cell of NHWC x repeated factor x factor times.
std::vector<double> upsample_nearest(int64_t n, int64_t h, int64_t w, int64_t c, int factor,
                                     const std::vector<double>& x);

// a and b joined along an axis: per index of the dims before it, a's block
// of a_block values then b's of b_block.
std::vector<double> concat(int64_t outer, int64_t a_block, int64_t b_block, const std::vector<double>& a,
                           const std::vector<double>& b);

// RT-DETR's 2-D sine-cosine positions, [batch, h * w, dim]: per cell (y, x),
// sin(y w_i), cos(y w_i), sin(x w_i), cos(x w_i) over i < dim / 4, w_i =
// temperature^(-i / (dim / 4)).
std::vector<double> grid_sincos_position(int64_t batch, int64_t h, int64_t w, int64_t dim, double temperature);

// RT-DETR's anchors for grids of level_h x level_w, [batch, cells, 4], as
// logits; cells with a coordinate outside (0.01, 0.99), decided in fp32 as
// the model decides it, hold FLT_MAX.
std::vector<double> anchor_boxes(int64_t batch, const std::vector<int64_t>& level_h,
                                 const std::vector<int64_t>& level_w);

// Rows of x [rows, dim] zeroed where an anchor coordinate is at least FLT_MAX.
std::vector<double> mask_invalid_anchors(int64_t rows, int64_t dim, const std::vector<double>& x,
                                         const std::vector<double>& anchors);

// Per image, the rows of x [n, s, e] of the k greatest max-over-c scores
// [n, s, c], greatest first, ties to the lower row: [n, k, e].
std::vector<double> gather_top_k(int64_t n, int64_t s, int64_t e, int64_t c, int64_t k,
                                 const std::vector<double>& x, const std::vector<double>& scores);

// log(x / (1 - x)), x clamped to [0, 1] and each side to at least 1e-5.
std::vector<double> inverse_sigmoid(const std::vector<double>& x);

// ---- D-FINE's backbone (HGNetV2) -------------------------------------------------------

// NHWC x [n, h, w, c] with `before` zero cells above and left and `after`
// below and right: [n, h + before + after, w + before + after, c].
std::vector<double> pad_spatial(int64_t n, int64_t h, int64_t w, int64_t c, int before, int after,
                                const std::vector<double>& x);

// x * scale + shift clamped to [lo, hi] as torch.clamp: NaN stays NaN.
std::vector<double> affine(double scale, double shift, double lo, double hi, const std::vector<double>& x);

// ---- D-FINE's decoder ops (op_reference_dfine.cpp) -----------------------------------

// a * b, element by element.
std::vector<double> mul(const std::vector<double>& a, const std::vector<double>& b);

// Columns [offset, offset + width) of each row of x [rows, cols].
std::vector<double> slice_last(int64_t cols, int64_t offset, int64_t width, const std::vector<double>& x);

// transformers' weighting_function(bins, up, reg_scale), bins + 1 values:
// [-2 ub1, 1 - step^(bins/2 - 1), ..., 1 - step, 0, step - 1, ...,
// step^(bins/2 - 1) - 1, 2 ub1], ub1 = |up| |reg_scale|, step = (ub1 +
// 1)^(2 / (bins - 2)); [-2 ub1, 0, 2 ub1] for 2 bins.
std::vector<double> dfine_weighting_function(int bins, double up, double reg_scale);

// D-FINE's boxes from corner logits [rows, 4 * (bins + 1)] and boxes
// [rows, 4] (cx, cy, w, h): per side (left, top, right, bottom) the
// softmax integrated against the weighting function, the distance, then
// distance2bbox with |reg_scale| and back to (cx, cy, w, h): [rows, 4].
std::vector<double> fdr_boxes(int64_t rows, int bins, double up, double reg_scale, const std::vector<double>& corners,
                              const std::vector<double>& boxes);

// D-FINE's LQE statistics of corner logits [rows, 4 * (bins + 1)]: per side
// the `count` greatest softmax probabilities, greatest first, then their
// mean: [rows, 4 * (count + 1)]. A side with a NaN or +inf logit, or all
// -inf, has NaN probabilities and so NaN statistics, as in torch.
std::vector<double> lqe_stat(int64_t rows, int bins, int count, const std::vector<double>& corners);

}  // namespace visionrt::reference
