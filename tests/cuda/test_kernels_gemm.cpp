// The cuBLASLt linear layer (kernels/gemm_lt.hpp) against a double-precision
// reference for every data type, compute mode and epilogue, plan reuse and
// CUDA graph capture, and the shape and argument checks (which need no device).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "reference/op_reference.hpp"
#include "kernel_test_util.hpp"
#include "kernels/gemm_lt.hpp"

namespace visionrt::kernels {
namespace {

using namespace visionrt::kernels::testing;

constexpr auto none = Activation::none;
constexpr auto relu = Activation::relu;
constexpr auto gelu = Activation::gelu_tanh;

// A shape whose residual, if any, joins before the activation, as cuBLASLt adds it.
GemmShape gemm(DType dtype, bool tf32, int64_t M, int64_t N, int64_t K, Activation act, bool bias,
               bool residual) {
  return {dtype, tf32, M, N, K, bias, {act, residual, ResidualOrder::residual_then_act}};
}

constexpr size_t kMaxWorkspace = size_t(32) << 20;

#define VRT_CUDA_OK(call)                                                  \
  do {                                                                     \
    const cudaError_t status_ = (call);                                    \
    ASSERT_EQ(status_, cudaSuccess) << #call << ": " << cudaGetErrorString(status_); \
  } while (0)

// Inputs, reference and tolerances of one linear layer.
struct Problem {
  GemmShape shape;
  DeviceTensor x, w, bias, residual;
  std::vector<double> pre, terms;  // reference before the activation, and its scale
};

Problem make_problem(const GemmShape& s, uint32_t seed) {
  Problem p;
  p.shape = s;
  // Weights of about 1.5 / sqrt(K) keep every output of order 1, where GELU
  // bends and ReLU cuts, whatever K is.
  const float w_scale = 1.5f / std::sqrt(float(s.K));
  p.x = upload(s.dtype, random_floats(size_t(s.M * s.K), -1.f, 1.f, seed));
  p.w = upload(s.dtype, random_floats(size_t(s.N * s.K), -w_scale, w_scale, seed + 1));
  if (s.has_bias) p.bias = upload(s.dtype, random_floats(size_t(s.N), -0.5f, 0.5f, seed + 2));
  if (s.epilogue.residual)
    p.residual = upload(s.dtype, random_floats(size_t(s.M * s.N), -1.f, 1.f, seed + 3));
  p.pre = reference::linear(s.M, s.N, s.K, p.x.values, p.w.values, p.bias.values,
                            p.residual.values, &p.terms);
  return p;
}

// Error bound of one output, from the exact pre-activation `pre` and the sum
// of the absolute values of its terms `terms` (K products, bias, residual):
//  - the fp32 sum of K products plus bias and residual, in any order and any
//    split, errs by at most (K + 2) u32 * terms (u32 = 2^-24); one more u32
//    covers each product's rounding when f32 products are not exact;
//  - TF32 keeps 10 of fp32's 23 mantissa bits: each operand may lose 2^-10
//    relative (truncation; 2^-11 if rounded), so each product 2^-9;
//  - ReLU passes an error on unchanged, GELU scales it by at most 1.13 (the
//    largest slope of the tanh form) and its own evaluation in fp32 (a fast
//    tanh of about 2^-11 absolute error, halved by the 0.5 x factor) adds at
//    most 2^-12 |pre|; 2^-10 |pre| is allowed;
//  - then one rounding to the data type.
std::vector<double> tolerances(const GemmShape& s, const std::vector<double>& pre,
                               const std::vector<double>& terms, const std::vector<double>& ref) {
  const double u32 = std::ldexp(1.0, -24);
  const double accumulate = (double(s.K) + 3.0) * u32 + (s.tf32 ? std::ldexp(1.0, -9) : 0.0);
  std::vector<double> tol(ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    double e = accumulate * terms[i];
    if (s.epilogue.act == Activation::gelu_tanh) e = 1.13 * e + std::ldexp(1.0, -10) * std::abs(pre[i]);
    tol[i] = e + rounding_error(s.dtype, ref[i]);
  }
  return tol;
}

std::vector<double> expected(const Problem& p) {
  std::vector<double> ref(p.pre.size());
  for (size_t i = 0; i < ref.size(); ++i) ref[i] = reference::activation(p.shape.epilogue.act, p.pre[i]);
  return ref;
}

// Runs `plan` on p's inputs into a fresh output (or into the residual's own
// buffer when in_place) and returns the output.
std::vector<double> run(const GemmPlan& plan, Problem& p, bool in_place, void* stream = nullptr) {
  const GemmShape& s = p.shape;
  const size_t n = size_t(s.M * s.N);
  DeviceBuffer out = poisoned(s.dtype, n);
  DeviceBuffer workspace;
  if (plan.workspace_bytes() > 0) workspace = DeviceBuffer(plan.workspace_bytes());
  GemmArgs a;
  a.x = p.x.buffer.data();
  a.w = p.w.buffer.data();
  a.bias = s.has_bias ? p.bias.buffer.data() : nullptr;
  a.residual = s.epilogue.residual ? p.residual.buffer.data() : nullptr;
  a.out = in_place ? p.residual.buffer.data() : out.data();
  a.workspace = workspace.data();
  a.workspace_bytes = workspace.size();
  a.stream = stream;
  gemm_lt(plan, a);
  return download(s.dtype, in_place ? p.residual.buffer : out, n);
}

// ---- against the reference --------------------------------------------------------

struct GemmCase {
  const char* name;
  DType dtype;
  bool tf32;
  int64_t M, N, K;
  Activation act;
  bool bias, residual;
  bool in_place;  // residual == out
};

void PrintTo(const GemmCase& c, std::ostream* os) { *os << c.name; }

class GemmLtKernel : public ::testing::TestWithParam<GemmCase> {};

TEST_P(GemmLtKernel, MatchesReference) {
  VRT_REQUIRE_CUDA();
  const GemmCase& c = GetParam();
  const GemmShape s = gemm(c.dtype, c.tf32, c.M, c.N, c.K, c.act, c.bias, c.residual);
  LtHandle lt;
  const GemmPlan plan = GemmPlan::create(s, kMaxWorkspace, lt.get());
  ASSERT_TRUE(plan.valid());
  EXPECT_LE(plan.workspace_bytes(), kMaxWorkspace);
  Problem p = make_problem(s, 900u + uint32_t(c.M + c.N + c.K));
  const std::vector<double> got = run(plan, p, c.in_place);
  const std::vector<double> ref = expected(p);
  EXPECT_TRUE(all_close(c.name, got, ref, tolerances(s, p.pre, p.terms, ref)));
}

// ViT-B/16 on two images: 2 x 197 tokens, width 768, MLP 3072.
constexpr int64_t kVitRows = 2 * 197;

INSTANTIATE_TEST_SUITE_P(
    Shapes, GemmLtKernel,
    ::testing::Values(
        // The fused QKV projection.
        GemmCase{"f32_vitb_qkv", f32, false, kVitRows, 2304, 768, none, true, false, false},
        GemmCase{"tf32_vitb_qkv", f32, true, kVitRows, 2304, 768, none, true, false, false},
        GemmCase{"f16_vitb_qkv", f16, false, kVitRows, 2304, 768, none, true, false, false},
        GemmCase{"bf16_vitb_qkv", bf16, false, kVitRows, 2304, 768, none, true, false, false},
        // The first MLP linear with its GELU.
        GemmCase{"f16_vitb_fc1_gelu", f16, false, kVitRows, 3072, 768, gelu, true, false, false},
        GemmCase{"bf16_vitb_fc1_gelu", bf16, false, kVitRows, 3072, 768, gelu, true, false, false},
        // The attention projection and second MLP linear with the skip connection.
        GemmCase{"f32_vitb_proj_residual", f32, false, kVitRows, 768, 768, none, true, true, false},
        GemmCase{"f16_vitb_fc2_residual_in_place", f16, false, kVitRows, 768, 3072, none, true,
                 true, true},
        GemmCase{"bf16_vitb_proj_residual_in_place", bf16, false, kVitRows, 768, 768, none, true,
                 true, true},
        // Odd sizes: one row, K far below any tile, N not a multiple of 8.
        GemmCase{"f32_1x10x3", f32, false, 1, 10, 3, none, false, false, false},
        GemmCase{"tf32_1x10x3_bias", f32, true, 1, 10, 3, none, true, false, false},
        GemmCase{"f16_1x10x3_bias_relu", f16, false, 1, 10, 3, relu, true, false, false},
        GemmCase{"bf16_1x10x3_bias_gelu_residual", bf16, false, 1, 10, 3, gelu, true, true, false},
        GemmCase{"f32_37x1000x768_bias_relu", f32, false, 37, 1000, 768, relu, true, false, false},
        GemmCase{"f16_37x1000x768_gelu", f16, false, 37, 1000, 768, gelu, false, false, false},
        // The residual inside the activation: relu(x.W^T + r).
        GemmCase{"bf16_37x1000x768_relu_residual", bf16, false, 37, 1000, 768, relu, false, true,
                 false},
        GemmCase{"tf32_37x1000x768_bias_gelu_residual_in_place", f32, true, 37, 1000, 768, gelu,
                 true, true, true},
        GemmCase{"f16_100x256x256", f16, false, 100, 256, 256, none, false, false, false},
        GemmCase{"f32_5x7x9_residual", f32, false, 5, 7, 9, none, false, true, false}),
    [](const ::testing::TestParamInfo<GemmCase>& info) { return std::string(info.param.name); });

// ---- plans ---------------------------------------------------------------------------

// One plan serves every layer of its shape (different weights and biases),
// and keeps working after a move.
TEST(GemmLtPlan, ServesManyLayersAndMoves) {
  VRT_REQUIRE_CUDA();
  const GemmShape s = gemm(f16, false, 64, 192, 256, gelu, true, false);
  LtHandle lt;
  GemmPlan plan = GemmPlan::create(s, kMaxWorkspace, lt.get());
  for (uint32_t layer = 0; layer < 3; ++layer) {
    Problem p = make_problem(s, 40u + 10u * layer);
    const std::vector<double> ref = expected(p);
    const std::vector<double> tol = tolerances(s, p.pre, p.terms, ref);
    EXPECT_TRUE(all_close("layer " + std::to_string(layer), run(plan, p, false), ref, tol));
    if (layer == 1) {
      GemmPlan moved = std::move(plan);
      EXPECT_FALSE(plan.valid());  // NOLINT(bugprone-use-after-move): checks the moved-from state
      EXPECT_TRUE(moved.valid());
      EXPECT_THROW(run(plan, p, false), Error);
      EXPECT_TRUE(all_close("moved plan", run(moved, p, false), ref, tol));
      plan = std::move(moved);
    }
  }
}

// The product recorded into a CUDA graph (global capture mode, which fails on
// any allocation or synchronisation) and replayed matches a direct run.
TEST(GemmLtPlan, CapturesIntoGraph) {
  VRT_REQUIRE_CUDA();
  const GemmShape s = gemm(bf16, false, kVitRows, 768, 768, none, true, true);
  LtHandle lt;
  const GemmPlan plan = GemmPlan::create(s, kMaxWorkspace, lt.get());
  Problem p = make_problem(s, 123u);
  cudaStream_t stream = nullptr;
  VRT_CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const std::vector<double> direct = run(plan, p, false, stream);  // also loads the kernel

  const size_t n = size_t(s.M * s.N);
  DeviceBuffer out = poisoned(s.dtype, n);
  DeviceBuffer workspace;
  if (plan.workspace_bytes() > 0) workspace = DeviceBuffer(plan.workspace_bytes());
  GemmArgs a;
  a.x = p.x.buffer.data();
  a.w = p.w.buffer.data();
  a.bias = p.bias.buffer.data();
  a.residual = p.residual.buffer.data();
  a.out = out.data();
  a.workspace = workspace.data();
  a.workspace_bytes = workspace.size();
  a.stream = stream;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  VRT_CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  std::string error;
  try {
    gemm_lt(plan, a);
  } catch (const Error& e) {
    error = e.what();
  }
  VRT_CUDA_OK(cudaStreamEndCapture(stream, &graph));
  ASSERT_EQ(error, "");
  VRT_CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  for (int replay = 0; replay < 2; ++replay) {
    VRT_CUDA_OK(cudaGraphLaunch(exec, stream));
    VRT_CUDA_OK(cudaStreamSynchronize(stream));
  }
  const std::vector<double> replayed = download(s.dtype, out, n);
  const std::vector<double> ref = expected(p);
  EXPECT_TRUE(all_close("graph replay", replayed, ref, tolerances(s, p.pre, p.terms, ref)));
  // The same algorithm on the same inputs: bit for bit.
  EXPECT_TRUE(all_close("graph replay vs direct", replayed, direct, constant(n, 0.0)));
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

// A run whose arguments break the plan's rules throws before cuBLASLt sees them.
TEST(GemmLtPlan, RefusesArgumentsAtRun) {
  VRT_REQUIRE_CUDA();
  const GemmShape s = gemm(f32, false, 8, 16, 32, relu, true, false);
  LtHandle lt;
  const GemmPlan plan = GemmPlan::create(s, kMaxWorkspace, lt.get());
  Problem p = make_problem(s, 5u);
  DeviceBuffer out = poisoned(s.dtype, size_t(s.M * s.N) + 4);
  DeviceBuffer workspace(std::max<size_t>(plan.workspace_bytes(), 256));
  GemmArgs a;
  a.x = p.x.buffer.data();
  a.w = p.w.buffer.data();
  a.bias = p.bias.buffer.data();
  a.out = out.data();
  a.workspace = workspace.data();
  a.workspace_bytes = workspace.size();
  std::string why;
  EXPECT_TRUE(can_implement(plan, a, &why)) << why;
  GemmArgs bad = a;
  bad.out = static_cast<char*>(out.data()) + 4;  // 4-byte aligned only
  try {
    gemm_lt(plan, bad);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::unsupported);
    EXPECT_NE(std::string(e.what()).find("aligned"), std::string::npos) << e.what();
  }
  bad = a;
  bad.bias = nullptr;
  EXPECT_THROW(gemm_lt(plan, bad), Error);
  if (plan.workspace_bytes() > 0) {
    bad = a;
    bad.workspace_bytes = plan.workspace_bytes() - 1;
    EXPECT_FALSE(can_implement(plan, bad, &why));
    EXPECT_NE(why.find("workspace"), std::string::npos) << why;
  }
}

// ---- validation (needs no device) ------------------------------------------------------

TEST(GemmLtParams, RefusesBadShapes) {
  const GemmShape good = gemm(f16, false, 197, 2304, 768, gelu, true, true);
  std::string why;
  EXPECT_TRUE(can_implement(good, &why)) << why;
  auto refused = [&](GemmShape s, const char* reason) {
    std::string w;
    EXPECT_FALSE(can_implement(s, &w)) << reason;
    EXPECT_NE(w.find(reason), std::string::npos) << w;
    // create refuses the shape before it needs a handle.
    try {
      GemmPlan::create(s, 0, nullptr);
      ADD_FAILURE() << "no error for " << reason;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), StatusCode::unsupported);
      EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
    }
  };
  GemmShape s = good;
  s.M = 0;
  refused(s, "must be positive");
  s = good;
  s.K = -3;
  refused(s, "must be positive");
  s = good;
  s.N = int64_t(1) << 31;
  refused(s, "int32");
  s = good;
  s.tf32 = true;  // f16 data
  refused(s, "tf32 needs f32");
  s = good;
  s.dtype = DType::i64;
  refused(s, "not a float data type");
  s = good;
  s.epilogue.act = Activation::sigmoid;
  refused(s, "cuBLASLt has no activation");
  s = good;
  s.epilogue.act = Activation::silu;
  refused(s, "cuBLASLt has no activation");
  s = good;
  s.epilogue.order = ResidualOrder::act_then_residual;
  refused(s, "before the activation");
  s = good;
  s.dtype = f32;
  s.tf32 = true;
  EXPECT_TRUE(can_implement(s, &why)) << why;
  // A good shape without a handle.
  try {
    GemmPlan::create(good, 0, nullptr);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::unsupported);
  }
}

TEST(GemmLtParams, RefusesBadArguments) {
  // Addresses only: nothing is dereferenced.
  alignas(256) static char storage[16384];
  const GemmShape s = gemm(f32, false, 4, 8, 16, relu, true, true);  // x 256 B, w 512 B, out 128 B
  GemmArgs a;
  a.x = storage;
  a.w = storage + 256;
  a.bias = storage + 768;
  a.residual = storage + 1024;
  a.out = storage + 2048;
  std::string why;
  EXPECT_TRUE(can_implement(s, a, &why)) << why;

  auto refused = [&](const GemmArgs& bad, const char* reason) {
    std::string w;
    EXPECT_FALSE(can_implement(s, bad, &w)) << reason;
    EXPECT_NE(w.find(reason), std::string::npos) << w;
  };
  GemmArgs bad = a;
  bad.x = nullptr;
  refused(bad, "null");
  bad = a;
  bad.bias = nullptr;
  refused(bad, "bias but none");
  bad = a;
  bad.residual = nullptr;
  refused(bad, "residual but none");
  GemmShape plain = s;
  plain.has_bias = plain.epilogue.residual = false;
  EXPECT_FALSE(can_implement(plain, a, &why));
  EXPECT_NE(why.find("the plan has none"), std::string::npos) << why;
  bad = a;
  bad.x = storage + 8;
  refused(bad, "aligned");
  bad = a;
  bad.bias = storage + 768 + 4;
  refused(bad, "aligned");
  bad = a;
  bad.out = storage + 128;  // inside x
  refused(bad, "overlaps x or w");
  bad = a;
  bad.out = storage + 768;  // on the bias (bias and residual moved away from it)
  bad.residual = storage + 4096;
  bad.bias = storage + 784;
  refused(bad, "overlaps bias");
  bad = a;
  bad.residual = storage + 2048 + 64;  // half over out
  refused(bad, "partly overlaps");
  // In place: the residual is the output.
  bad = a;
  bad.residual = a.out;
  EXPECT_TRUE(can_implement(s, bad, &why)) << why;

  // Plans: an empty one is refused, by can_implement and by gemm_lt.
  const GemmPlan empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_FALSE(can_implement(empty, a, &why));
  EXPECT_NE(why.find("empty"), std::string::npos) << why;
  try {
    gemm_lt(empty, a);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::unsupported);
  }
}

}  // namespace
}  // namespace visionrt::kernels
