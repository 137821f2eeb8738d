// LayerNorm and the bias/activation/residual epilogue against
// double-precision references.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "reference/op_reference.hpp"
#include "kernel_test_util.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/layer_norm.hpp"

namespace visionrt::kernels {
namespace {

using namespace visionrt::kernels::testing;


// ---- LayerNorm -------------------------------------------------------------------

struct LayerNormCase {
  const char* name;
  DType dtype;
  int64_t rows, cols;
  float offset;     // added to every input: a large common mean
  bool in_place;    // output over the input (the header allows it)
  int misalign;     // elements the input starts past a 16-byte boundary
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
  DeviceTensor gamma = upload(c.dtype, random_floats(size_t(c.cols), 0.5f, 1.5f, seed + 2));
  DeviceTensor beta = upload(c.dtype, random_floats(size_t(c.cols), -0.5f, 0.5f, seed + 3));
  DeviceBuffer out = poisoned(c.dtype, n);
  const size_t esize = dtype_size(c.dtype);
  char* input_ptr = static_cast<char*>(input.buffer.data()) + c.misalign * esize;

  LayerNormParams p;
  p.dtype = c.dtype;
  p.rows = c.rows;
  p.cols = c.cols;
  p.input = input_ptr;
  p.gamma = gamma.buffer.data();
  p.beta = beta.buffer.data();
  p.output = c.in_place ? static_cast<void*>(input_ptr) : out.data();
  p.eps = 1e-5f;
  std::string why;
  ASSERT_TRUE(can_implement(p, &why)) << why;
  EXPECT_EQ(layer_norm_uses_warp_path(p), c.expect_warp_path);
  layer_norm(p);

  const std::vector<double> v(input.values.begin() + c.misalign, input.values.end());
  const std::vector<double> ref =
      reference::layer_norm(c.rows, c.cols, v, gamma.values, beta.values, p.eps);
  std::vector<double> got;
  if (c.in_place) {
    got = download(c.dtype, input.buffer, n + c.misalign);
    got.erase(got.begin(), got.begin() + c.misalign);
  } else {
    got = download(c.dtype, out, n);
  }

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
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, LayerNormKernel,
    ::testing::Values(
        LayerNormCase{"f16_vit768", f16, 33, 768, 0.f, false, 0, true},
        LayerNormCase{"bf16_vit768", bf16, 33, 768, 0.f, false, 0, true},
        LayerNormCase{"f32_vit768", f32, 33, 768, 0.f, false, 0, true},
        LayerNormCase{"f32_offset50", f32, 9, 768, 50.f, false, 0, true},
        LayerNormCase{"bf16_w1280", bf16, 5, 1280, 0.f, false, 0, true},
        LayerNormCase{"f32_w256", f32, 7, 256, 0.f, false, 0, true},
        LayerNormCase{"f16_in_place", f16, 4, 256, 0.f, true, 0, true},
        LayerNormCase{"f32_in_place", f32, 3, 1280, 0.f, true, 0, true},
        LayerNormCase{"f16_one_row_w8", f16, 1, 8, 0.f, false, 0, true},
        LayerNormCase{"f16_w1000", f16, 6, 1000, 0.f, false, 0, true},
        LayerNormCase{"f16_widest_warp", f16, 3, 4096, 0.f, false, 0, true},
        LayerNormCase{"f32_widest_warp", f32, 3, 2048, 0.f, false, 0, true},
        // Row kernel: width not a multiple of 8, too wide, misaligned, width 1.
        LayerNormCase{"f16_w770_rows", f16, 5, 770, 0.f, false, 0, false},
        LayerNormCase{"bf16_w770_in_place", bf16, 4, 770, 0.f, true, 0, false},
        LayerNormCase{"f16_w4104_rows", f16, 2, 4104, 0.f, false, 0, false},
        LayerNormCase{"f32_w2052_rows", f32, 2, 2052, 0.f, false, 0, false},
        LayerNormCase{"f32_misaligned", f32, 3, 768, 0.f, false, 1, false},
        LayerNormCase{"f32_w1", f32, 3, 1, 0.f, false, 0, false},
        LayerNormCase{"f32_w770_offset_in_place", f32, 3, 770, 50.f, true, 0, false}),
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
  ResidualOrder order;
  int alias;  // 0: separate output, 1: over the input, 2: over the residual
};

void PrintTo(const EpilogueCase& c, std::ostream* os) { *os << c.name; }

class BiasActivationKernel : public ::testing::TestWithParam<EpilogueCase> {};

double reference_activation(Activation a, double x) {
  switch (a) {
    case Activation::none: return x;
    case Activation::gelu_erf: return reference::gelu_erf(x);
    case Activation::gelu_tanh: return reference::gelu_tanh(x);
    case Activation::relu: return reference::relu(x);
    case Activation::sigmoid: return reference::sigmoid(x);
    case Activation::silu: return x * reference::sigmoid(x);
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
  p.epilogue = {c.activation, c.residual, c.order};
  p.residual = c.residual ? res.buffer.data() : nullptr;
  p.output = c.alias == 1 ? x.buffer.data() : c.alias == 2 ? res.buffer.data() : out.data();
  bias_activation(p);
  const DeviceBuffer& written = c.alias == 1 ? x.buffer : c.alias == 2 ? res.buffer : out;
  const std::vector<double> got = download(c.dtype, written, n);

  // fp32 evaluation then one rounding (u * |y| or the subnormal step), and 8 ulp of
  // fp32 (erff is within 2) relative to the magnitudes that were added.
  std::vector<double> ref(n), tol(n);
  for (size_t i = 0; i < n; ++i) {
    const double r = c.residual ? res.values[i] : 0.0;
    const bool r_first = c.order == ResidualOrder::residual_then_act;
    double v = x.values[i] + (c.bias ? bias.values[i % c.cols] : 0.0) + (r_first ? r : 0.0);
    const double pre = std::abs(v);
    ref[i] = reference_activation(c.activation, v) + (r_first ? 0.0 : r);
    tol[i] = rounding_error(c.dtype, ref[i]) + 8 * std::ldexp(1.0, -24) * (pre + std::abs(r));
  }
  EXPECT_TRUE(all_close(c.name, got, ref, tol));
}

constexpr auto act_first = ResidualOrder::act_then_residual;
constexpr auto residual_first = ResidualOrder::residual_then_act;

INSTANTIATE_TEST_SUITE_P(
    Shapes, BiasActivationKernel,
    ::testing::Values(
        EpilogueCase{"f16_bias_gelu", f16, 7, 3072, true, Activation::gelu_erf, false, act_first, 0},
        EpilogueCase{"bf16_bias_gelu", bf16, 7, 3072, true, Activation::gelu_erf, false, act_first, 0},
        EpilogueCase{"f32_bias_gelu", f32, 7, 768, true, Activation::gelu_erf, false, act_first, 0},
        EpilogueCase{"f16_bias_residual", f16, 9, 768, true, Activation::none, true, act_first, 0},
        EpilogueCase{"f32_bias_residual_over_residual", f32, 9, 768, true, Activation::none, true, act_first, 2},
        EpilogueCase{"bf16_all_three_in_place", bf16, 5, 256, true, Activation::gelu_erf, true, act_first, 1},
        EpilogueCase{"f16_gelu_no_bias", f16, 3, 64, false, Activation::gelu_erf, false, act_first, 0},
        // Widths that are not a whole number of 16-byte vectors.
        EpilogueCase{"f16_odd_width", f16, 5, 771, true, Activation::gelu_erf, true, act_first, 0},
        EpilogueCase{"f32_odd_width_in_place", f32, 4, 97, true, Activation::gelu_erf, false, act_first, 1},
        EpilogueCase{"bf16_one_column", bf16, 3, 1, true, Activation::none, true, act_first, 0},
        // The other activations a linear layer's epilogue may need apart
        // from cuBLASLt: DETR's box head ends in a sigmoid.
        EpilogueCase{"f32_bias_sigmoid", f32, 7, 4, true, Activation::sigmoid, false, act_first, 0},
        EpilogueCase{"f16_sigmoid_in_place", f16, 5, 256, false, Activation::sigmoid, false, act_first, 1},
        // RT-DETR's encoder and heads use SiLU, which cuBLASLt does not run.
        EpilogueCase{"f32_bias_silu", f32, 7, 768, true, Activation::silu, false, act_first, 0},
        EpilogueCase{"bf16_silu_residual_in_place", bf16, 5, 771, true, Activation::silu, true, act_first, 1},
        EpilogueCase{"bf16_relu_residual", bf16, 9, 768, true, Activation::relu, true, act_first, 0},
        EpilogueCase{"f32_gelu_tanh_residual", f32, 4, 97, true, Activation::gelu_tanh, true, act_first, 0},
        EpilogueCase{"f16_gelu_tanh", f16, 3, 3072, true, Activation::gelu_tanh, false, act_first, 0},
        // The residual before the activation, as a ResNet block adds its shortcut.
        EpilogueCase{"f32_residual_then_relu", f32, 6, 256, true, Activation::relu, true, residual_first, 0},
        EpilogueCase{"bf16_residual_then_gelu_odd", bf16, 3, 771, true, Activation::gelu_erf, true,
                     residual_first, 2}),
    [](const ::testing::TestParamInfo<EpilogueCase>& info) { return std::string(info.param.name); });

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
  bad.gamma = nullptr;
  EXPECT_FALSE(can_implement(bad, &why));
  EXPECT_THROW(layer_norm(bad), Error);

  BiasActivationParams ba;
  ba.rows = 1;
  ba.cols = 4;
  ba.output = storage;
  EXPECT_FALSE(can_implement(ba, &why));  // no input
  ba.input = storage;
  ba.residual = storage;
  EXPECT_FALSE(can_implement(ba, &why));  // a residual the epilogue does not add
  EXPECT_NE(why.find("without one"), std::string::npos) << why;
  ba.residual = nullptr;
  ba.epilogue.residual = true;
  EXPECT_FALSE(can_implement(ba, &why));
  EXPECT_NE(why.find("none was given"), std::string::npos) << why;
  ba.input = nullptr;
  ba.epilogue.residual = false;
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
