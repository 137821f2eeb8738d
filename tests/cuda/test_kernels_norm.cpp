// LayerNorm (plain and fused with a residual add), the bias/GELU/residual
// epilogue and the row softmax against double-precision references.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "kernel_reference.hpp"
#include "kernel_test_util.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/layer_norm.hpp"

namespace visionrt::kernels {
namespace {

using namespace visionrt::kernels::testing;


// ---- LayerNorm -------------------------------------------------------------------

enum class Residual { none, add, add_and_store_sum };
// Where the output (or the stored sum) goes: a buffer of its own, or over the
// input or the residual (the header allows both aliases for both).
enum class Into { own_buffer, input, residual };

struct LayerNormCase {
  const char* name;
  DType dtype;
  int64_t rows, cols;
  Residual residual;
  float offset;        // added to every input: a large common mean
  Into output_into;
  Into sum_into;       // with Residual::add_and_store_sum
  int misalign;        // elements the input starts past a 16-byte boundary
  bool expect_warp_path;
};

void PrintTo(const LayerNormCase& c, std::ostream* os) { *os << c.name; }

class LayerNormKernel : public ::testing::TestWithParam<LayerNormCase> {};

TEST_P(LayerNormKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const LayerNormCase& c = GetParam();
  const size_t n = size_t(c.rows * c.cols);
  const uint32_t seed = 77u + uint32_t(c.cols) * 3u + uint32_t(c.rows);
  std::vector<float> x = random_floats(n + c.misalign, -2.f, 2.f, seed);
  for (float& v : x) v += c.offset;
  DeviceTensor input = upload(c.dtype, x);
  DeviceTensor residual = upload(c.dtype, random_floats(n, -1.f, 1.f, seed + 1));
  DeviceTensor gamma = upload(c.dtype, random_floats(size_t(c.cols), 0.5f, 1.5f, seed + 2));
  DeviceTensor beta = upload(c.dtype, random_floats(size_t(c.cols), -0.5f, 0.5f, seed + 3));
  DeviceBuffer out = poisoned(c.dtype, n);
  DeviceBuffer sum_out = poisoned(c.dtype, n);
  const size_t esize = dtype_size(c.dtype);
  char* input_ptr = static_cast<char*>(input.buffer.data()) + c.misalign * esize;

  // The buffer an output goes to, and how to read it back.
  auto target = [&](Into into, DeviceBuffer& own) -> void* {
    return into == Into::input      ? static_cast<void*>(input_ptr)
           : into == Into::residual ? residual.buffer.data()
                                    : own.data();
  };
  auto read_back = [&](Into into, const DeviceBuffer& own) {
    if (into == Into::residual) return download(c.dtype, residual.buffer, n);
    if (into == Into::own_buffer) return download(c.dtype, own, n);
    std::vector<double> v = download(c.dtype, input.buffer, n + c.misalign);
    v.erase(v.begin(), v.begin() + c.misalign);
    return v;
  };
  ASSERT_TRUE(c.residual != Residual::none ||
              (c.output_into != Into::residual && c.sum_into == Into::own_buffer));

  LayerNormParams p;
  p.dtype = c.dtype;
  p.rows = c.rows;
  p.cols = c.cols;
  p.input = input_ptr;
  p.residual = c.residual != Residual::none ? residual.buffer.data() : nullptr;
  p.sum_out = c.residual == Residual::add_and_store_sum ? target(c.sum_into, sum_out) : nullptr;
  p.gamma = gamma.buffer.data();
  p.beta = beta.buffer.data();
  p.output = target(c.output_into, out);
  p.eps = 1e-5f;
  std::string why;
  ASSERT_TRUE(can_implement(p, &why)) << why;
  EXPECT_EQ(layer_norm_uses_warp_path(p), c.expect_warp_path);
  layer_norm(p);

  // The normalised values: the input, or input + residual rounded to the type
  // as the kernel (and an unfused graph storing the sum) rounds it.
  std::vector<double> v(input.values.begin() + c.misalign, input.values.end());
  if (c.residual != Residual::none)
    for (size_t i = 0; i < n; ++i) v[i] = round_to(c.dtype, v[i] + residual.values[i]);
  const std::vector<double> ref =
      reference::layer_norm(c.rows, c.cols, v, gamma.values, beta.values, p.eps);

  const std::vector<double> got = read_back(c.output_into, out);

  // Output rounding (u * |y|, or the subnormal step). fp32 statistics: the sums are per-lane serial
  // then tree-reduced, so their rounding error stays within 64 ulp of the
  // largest input, which moves y by at most that times rstd * max|gamma|; all
  // other fp32 steps stay within 1e-5 of the output scale.
  double max_rstd = 0.0;
  for (int64_t r = 0; r < c.rows; ++r) {
    double mean = 0.0, sq = 0.0;
    for (int64_t i = 0; i < c.cols; ++i) mean += v[r * c.cols + i] / c.cols;
    for (int64_t i = 0; i < c.cols; ++i) sq += std::pow(v[r * c.cols + i] - mean, 2) / c.cols;
    max_rstd = std::max(max_rstd, 1.0 / std::sqrt(sq + p.eps));
  }
  const double yscale = max_abs(ref);
  const double stats = 64 * std::ldexp(1.0, -24) * max_abs(v) * max_rstd * max_abs(gamma.values);
  std::vector<double> tol(n);
  for (size_t i = 0; i < n; ++i)
    tol[i] = rounding_error(c.dtype, ref[i]) + 1e-5 * yscale + stats;
  EXPECT_TRUE(all_close(std::string(c.name) + " output", got, ref, tol));

  if (c.residual == Residual::add_and_store_sum) {
    // The stored sum is exactly the rounded sum.
    EXPECT_TRUE(all_close(std::string(c.name) + " sum", read_back(c.sum_into, sum_out), v,
                          constant(n, 0.0)));
  }
}

constexpr auto own = Into::own_buffer;
constexpr auto to_input = Into::input;
constexpr auto to_residual = Into::residual;

INSTANTIATE_TEST_SUITE_P(
    Shapes, LayerNormKernel,
    ::testing::Values(
        LayerNormCase{"f16_vit768", f16, 33, 768, Residual::none, 0.f, own, own, 0, true},
        LayerNormCase{"bf16_vit768", bf16, 33, 768, Residual::none, 0.f, own, own, 0, true},
        LayerNormCase{"f32_vit768", f32, 33, 768, Residual::none, 0.f, own, own, 0, true},
        LayerNormCase{"f32_offset50", f32, 9, 768, Residual::none, 50.f, own, own, 0, true},
        LayerNormCase{"f16_fused_sum", f16, 17, 768, Residual::add_and_store_sum, 0.f, own, own, 0,
                      true},
        LayerNormCase{"bf16_fused_sum", bf16, 5, 1280, Residual::add_and_store_sum, 0.f, own, own,
                      0, true},
        LayerNormCase{"f32_fused_sum", f32, 7, 256, Residual::add_and_store_sum, 0.f, own, own, 0,
                      true},
        LayerNormCase{"f16_fused_no_sum", f16, 3, 1024, Residual::add, 0.f, own, own, 0, true},
        LayerNormCase{"f16_in_place", f16, 4, 256, Residual::none, 0.f, to_input, own, 0, true},
        LayerNormCase{"f32_fused_in_place", f32, 3, 1280, Residual::add_and_store_sum, 0.f,
                      to_input, own, 0, true},
        LayerNormCase{"f16_one_row_w8", f16, 1, 8, Residual::none, 0.f, own, own, 0, true},
        LayerNormCase{"f16_w1000", f16, 6, 1000, Residual::none, 0.f, own, own, 0, true},
        LayerNormCase{"f16_widest_warp", f16, 3, 4096, Residual::add_and_store_sum, 0.f, own, own,
                      0, true},
        LayerNormCase{"f32_widest_warp", f32, 3, 2048, Residual::none, 0.f, own, own, 0, true},
        // Row kernel: width not a multiple of 8, too wide, misaligned, width 1.
        LayerNormCase{"f16_w770_rows", f16, 5, 770, Residual::none, 0.f, own, own, 0, false},
        LayerNormCase{"bf16_w770_fused", bf16, 4, 770, Residual::add_and_store_sum, 0.f, own, own,
                      0, false},
        LayerNormCase{"f16_w4104_rows", f16, 2, 4104, Residual::none, 0.f, own, own, 0, false},
        LayerNormCase{"f32_w2052_rows", f32, 2, 2052, Residual::add, 0.f, own, own, 0, false},
        LayerNormCase{"f32_misaligned", f32, 3, 768, Residual::none, 0.f, own, own, 1, false},
        LayerNormCase{"f32_w1", f32, 3, 1, Residual::none, 0.f, own, own, 0, false},
        LayerNormCase{"f32_w770_offset", f32, 3, 770, Residual::none, 50.f, to_input, own, 0,
                      false},
        // The aliases the header allows: output or stored sum over the
        // residual, with the other one over the input or in a buffer of its own.
        LayerNormCase{"f16_output_over_residual", f16, 5, 768, Residual::add, 0.f, to_residual, own,
                      0, true},
        LayerNormCase{"bf16_output_over_residual_with_sum", bf16, 3, 1024,
                      Residual::add_and_store_sum, 0.f, to_residual, own, 0, true},
        LayerNormCase{"f32_sum_over_residual", f32, 4, 512, Residual::add_and_store_sum, 0.f, own,
                      to_residual, 0, true},
        LayerNormCase{"f16_sum_over_residual_output_over_input", f16, 3, 768,
                      Residual::add_and_store_sum, 0.f, to_input, to_residual, 0, true},
        LayerNormCase{"bf16_w770_output_over_residual", bf16, 4, 770, Residual::add_and_store_sum,
                      0.f, to_residual, own, 0, false},
        LayerNormCase{"f16_w770_sum_over_residual", f16, 3, 770, Residual::add_and_store_sum, 0.f,
                      own, to_residual, 0, false},
        LayerNormCase{"f32_w770_sum_over_input_output_over_residual", f32, 4, 770,
                      Residual::add_and_store_sum, 0.f, to_residual, to_input, 0, false}),
    [](const ::testing::TestParamInfo<LayerNormCase>& info) {
      return std::string(info.param.name);
    });

// ---- bias / activation / residual ---------------------------------------------------

struct EpilogueCase {
  const char* name;
  DType dtype;
  int64_t rows, cols;
  bool bias;
  Activation activation;
  bool residual;
  int alias;  // 0: separate output, 1: over the input, 2: over the residual
};

void PrintTo(const EpilogueCase& c, std::ostream* os) { *os << c.name; }

class BiasActivationKernel : public ::testing::TestWithParam<EpilogueCase> {};

double reference_activation(Activation a, double x) {
  switch (a) {
    case Activation::none: return x;
    case Activation::gelu_erf: return reference::gelu_erf(x);
    case Activation::gelu_tanh: return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case Activation::relu: return std::max(x, 0.0);
    case Activation::sigmoid: return 1.0 / (1.0 + std::exp(-x));
  }
  return NAN;
}

TEST_P(BiasActivationKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const EpilogueCase& c = GetParam();
  const size_t n = size_t(c.rows * c.cols);
  const uint32_t seed = 5u + uint32_t(c.cols);
  DeviceTensor x = upload(c.dtype, random_floats(n, -4.f, 4.f, seed));
  DeviceTensor bias = upload(c.dtype, random_floats(size_t(c.cols), -1.f, 1.f, seed + 1));
  DeviceTensor res = upload(c.dtype, random_floats(n, -2.f, 2.f, seed + 2));
  DeviceBuffer out = poisoned(c.dtype, n);

  BiasActivationParams p;
  p.dtype = c.dtype;
  p.rows = c.rows;
  p.cols = c.cols;
  p.input = x.buffer.data();
  p.bias = c.bias ? bias.buffer.data() : nullptr;
  p.activation = c.activation;
  p.residual = c.residual ? res.buffer.data() : nullptr;
  p.output = c.alias == 1 ? x.buffer.data() : c.alias == 2 ? res.buffer.data() : out.data();
  bias_activation(p);
  const DeviceBuffer& written = c.alias == 1 ? x.buffer : c.alias == 2 ? res.buffer : out;
  const std::vector<double> got = download(c.dtype, written, n);

  // fp32 evaluation then one rounding (u * |y| or the subnormal step), and 8 ulp of
  // fp32 (erff is within 2) relative to the magnitudes that were added.
  std::vector<double> ref(n), tol(n);
  for (size_t i = 0; i < n; ++i) {
    double v = x.values[i] + (c.bias ? bias.values[i % c.cols] : 0.0);
    const double pre = std::abs(v);
    v = reference_activation(c.activation, v);
    const double r = c.residual ? res.values[i] : 0.0;
    ref[i] = v + r;
    tol[i] = rounding_error(c.dtype, ref[i]) + 8 * std::ldexp(1.0, -24) * (pre + std::abs(r));
  }
  EXPECT_TRUE(all_close(c.name, got, ref, tol));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, BiasActivationKernel,
    ::testing::Values(
        EpilogueCase{"f16_bias_gelu", f16, 7, 3072, true, Activation::gelu_erf, false, 0},
        EpilogueCase{"bf16_bias_gelu", bf16, 7, 3072, true, Activation::gelu_erf, false, 0},
        EpilogueCase{"f32_bias_gelu", f32, 7, 768, true, Activation::gelu_erf, false, 0},
        EpilogueCase{"f16_bias_residual", f16, 9, 768, true, Activation::none, true, 0},
        EpilogueCase{"f32_bias_residual_over_residual", f32, 9, 768, true, Activation::none, true, 2},
        EpilogueCase{"bf16_all_three_in_place", bf16, 5, 256, true, Activation::gelu_erf, true, 1},
        EpilogueCase{"f16_gelu_no_bias", f16, 3, 64, false, Activation::gelu_erf, false, 0},
        // Widths that are not a whole number of 16-byte vectors.
        EpilogueCase{"f16_odd_width", f16, 5, 771, true, Activation::gelu_erf, true, 0},
        EpilogueCase{"f32_odd_width_in_place", f32, 4, 97, true, Activation::gelu_erf, false, 1},
        EpilogueCase{"bf16_one_column", bf16, 3, 1, true, Activation::none, true, 0},
        // The other activations a linear layer's epilogue may need apart
        // from cuBLASLt: DETR's box head ends in a sigmoid.
        EpilogueCase{"f32_bias_sigmoid", f32, 7, 4, true, Activation::sigmoid, false, 0},
        EpilogueCase{"f16_sigmoid_in_place", f16, 5, 256, false, Activation::sigmoid, false, 1},
        EpilogueCase{"bf16_relu_residual", bf16, 9, 768, true, Activation::relu, true, 0},
        EpilogueCase{"f32_gelu_tanh_residual", f32, 4, 97, true, Activation::gelu_tanh, true, 0},
        EpilogueCase{"f16_gelu_tanh", f16, 3, 3072, true, Activation::gelu_tanh, false, 0}),
    [](const ::testing::TestParamInfo<EpilogueCase>& info) { return std::string(info.param.name); });

// ---- softmax --------------------------------------------------------------------------

struct SoftmaxCase {
  const char* name;
  DType dtype;
  int64_t rows, cols;
  bool in_place;
};

void PrintTo(const SoftmaxCase& c, std::ostream* os) { *os << c.name; }

class SoftmaxKernel : public ::testing::TestWithParam<SoftmaxCase> {};

TEST_P(SoftmaxKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const SoftmaxCase& c = GetParam();
  const size_t n = size_t(c.rows * c.cols);
  std::vector<float> x = random_floats(n, -8.f, 8.f, 11u + uint32_t(c.cols));
  // Row 0 holds some -inf (masked) entries, the last row is -inf throughout.
  for (int64_t i = 0; i < c.cols; i += 3) x[i] = -INFINITY;
  if (c.rows > 1)
    for (int64_t i = 0; i < c.cols; ++i) x[(c.rows - 1) * c.cols + i] = -INFINITY;
  DeviceTensor in = upload(c.dtype, x);
  DeviceBuffer out = poisoned(c.dtype, n);

  SoftmaxParams p;
  p.dtype = c.dtype;
  p.rows = c.rows;
  p.cols = c.cols;
  p.input = in.buffer.data();
  p.output = c.in_place ? in.buffer.data() : out.data();
  softmax(p);
  const std::vector<double> got = download(c.dtype, c.in_place ? in.buffer : out, n);

  // One rounding to the type plus, relative, fp32 exp (2 ulp) and a sum of
  // `cols` positive terms (at most cols ulp), doubled for margin.
  const std::vector<double> ref = reference::softmax(c.rows, c.cols, in.values);
  std::vector<double> tol(n);
  const double fp32_rel = 2 * (c.cols + 8) * std::ldexp(1.0, -24);
  for (size_t i = 0; i < n; ++i) tol[i] = rounding_error(c.dtype, ref[i]) + fp32_rel * ref[i];
  EXPECT_TRUE(all_close(c.name, got, ref, tol));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, SoftmaxKernel,
    ::testing::Values(SoftmaxCase{"f32_197", f32, 4, 197, false},
                      SoftmaxCase{"f16_1050", f16, 3, 1050, false},
                      SoftmaxCase{"bf16_33_in_place", bf16, 5, 33, true},
                      SoftmaxCase{"f32_one_column", f32, 2, 1, false},
                      SoftmaxCase{"f16_one_row", f16, 1, 100, true}),
    [](const ::testing::TestParamInfo<SoftmaxCase>& info) { return std::string(info.param.name); });

// ---- parameter validation (needs no device) -------------------------------------------

TEST(NormKernelParams, RefusesBadParameters) {
  alignas(16) static char storage[64];
  LayerNormParams ln;
  ln.rows = 2;
  ln.cols = 8;
  ln.input = ln.gamma = ln.beta = storage;
  ln.output = storage;
  std::string why;
  EXPECT_TRUE(can_implement(ln, &why)) << why;

  LayerNormParams bad = ln;
  bad.sum_out = storage + 16;
  EXPECT_FALSE(can_implement(bad, &why));
  EXPECT_NE(why.find("without a residual"), std::string::npos) << why;
  bad = ln;
  bad.gamma = nullptr;
  EXPECT_FALSE(can_implement(bad, &why));
  EXPECT_THROW(layer_norm(bad), Error);

  SoftmaxParams sm;
  sm.rows = 1;
  sm.cols = 0;
  sm.input = sm.output = storage;
  EXPECT_FALSE(can_implement(sm, &why));
  EXPECT_THROW(softmax(sm), Error);

  BiasActivationParams ba;
  ba.rows = 1;
  ba.cols = 4;
  ba.output = storage;
  EXPECT_FALSE(can_implement(ba, &why));  // no input
  try {
    bias_activation(ba);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::unsupported);
  }
}

// rsqrt(variance + eps) of a constant row is a division by zero unless eps > 0.
TEST(NormKernelParams, RefusesEpsNotAboveZero) {
  alignas(16) static char storage[64];
  LayerNormParams ln;
  ln.rows = 2;
  ln.cols = 8;
  ln.input = ln.gamma = ln.beta = storage;
  ln.output = storage;
  for (const float eps : {0.f, -0.f, -1e-5f, -INFINITY, INFINITY, NAN}) {
    ln.eps = eps;
    std::string why;
    EXPECT_FALSE(can_implement(ln, &why)) << "eps " << eps;
    EXPECT_NE(why.find("eps"), std::string::npos) << "reason: " << why;
    try {
      layer_norm(ln);
      ADD_FAILURE() << "no error for eps " << eps;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), StatusCode::unsupported) << e.what();
    }
  }
  ln.eps = std::numeric_limits<float>::denorm_min();  // the smallest eps above zero
  std::string why;
  EXPECT_TRUE(can_implement(ln, &why)) << why;
}

}  // namespace
}  // namespace visionrt::kernels
