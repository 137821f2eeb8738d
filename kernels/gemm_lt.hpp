// The matrix product of a linear layer on cuBLASLt, planned once per shape and
// run many times:
//
//   out[M, N] = act( x[M, K] . W[N, K]^T + bias[N] + residual[M, N] )
//
// x, W, out, residual and bias are row-major (PyTorch's nn.Linear layout: W
// holds one row of K weights per output feature) and all of one DType;
// products accumulate in fp32 always, and bias and residual are added in fp32
// before the single rounding to the data type.
//
// This is cuBLASLt's D = act(alpha * A.B + beta * C + bias) with alpha = 1, the
// residual as C with beta = 1 (beta = 0 without one). So WITH AN ACTIVATION THE
// RESIDUAL IS INSIDE IT: act(x.W^T + b + r), not act(x.W^T + b) + r as a
// transformer block adds its skip connection (that order is
// kernels/elementwise.hpp's bias_activation). Use a residual with no
// activation for the attention projection and the second MLP linear.
//
// Compute modes: f16 and bf16 data use CUBLAS_COMPUTE_32F (fp32 scale and
// accumulation); f32 data uses exact fp32 (CUBLAS_COMPUTE_32F) or, with
// GemmShape::tf32, CUBLAS_COMPUTE_32F_FAST_TF32 (inputs rounded to TF32's
// 10-bit mantissa on the tensor cores, fp32 accumulation). Split-K algorithms
// that would add partial sums in a 16-bit output type are never chosen.
//
// Pointers (GemmArgs), checked by can_implement before every run:
//   - x, w, out, residual and bias must be 16-byte aligned (the plan is chosen
//     for algorithms that need no more); any K, N works, rows need not be.
//   - residual may be exactly out (in place: cuBLASLt allows C == D with one
//     layout); any other overlap between out and x, w, bias or residual is
//     refused.
//   - the workspace, when the plan needs one, must be 256-byte aligned and
//     hold workspace_bytes().
//
// gemm_lt only enqueues: no allocation, no synchronisation, nothing a CUDA
// graph capture forbids. Run a shape once before capturing it, as with any
// kernel that may be loaded lazily.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/epilogue.hpp"
#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

// Owns a cuBLASLt handle (for the device current when it is created).
class LtHandle {
 public:
  LtHandle();  // throws visionrt::Error(device_error) when cuBLASLt cannot start
  ~LtHandle();
  LtHandle(const LtHandle&) = delete;
  LtHandle& operator=(const LtHandle&) = delete;
  void* get() const { return handle_; }  // cublasLtHandle_t

 private:
  void* handle_ = nullptr;
};

struct GemmShape {
  DType dtype = DType::f32;  // of x, W, bias, residual and out
  bool tf32 = false;               // f32 only: TF32 tensor-core products
  int64_t M = 0, N = 0, K = 0;     // out[M, N] = x[M, K] . W[N, K]^T
  bool has_bias = false;           // bias[N] added first
  // cuBLASLt computes act(x W^T + bias + C): the activations it has are ReLU
  // and its GELU, the tanh form (not nn.GELU()'s exact erf one), and a
  // residual (C = residual[M, N]) joins before the activation.
  // can_implement refuses any other epilogue.
  Epilogue epilogue;
};

struct GemmArgs {
  const void* x = nullptr;         // [M, K]
  const void* w = nullptr;         // [N, K]
  const void* bias = nullptr;      // [N]; set exactly when shape.has_bias
  const void* residual = nullptr;  // [M, N]; set exactly when shape.epilogue.residual; may be out
  void* out = nullptr;             // [M, N]
  void* workspace = nullptr;       // device scratch of at least GemmPlan::workspace_bytes()
  size_t workspace_bytes = 0;
  void* stream = nullptr;  // cudaStream_t
};

// A cuBLASLt algorithm chosen for one GemmShape on one handle: the matrix
// layouts, the algorithm (cublasLtMatmulAlgoGetHeuristic's first choice) and
// the workspace it needs. A run never modifies the plan (the bias pointer goes
// into a matmul descriptor built per call), so one plan serves every layer of
// its shape, and concurrent runs do not race on it. Move-only; the handle must
// outlive it.
class GemmPlan {
 public:
  GemmPlan() = default;  // empty: valid() is false and gemm_lt refuses it
  ~GemmPlan();
  GemmPlan(GemmPlan&& other) noexcept;
  GemmPlan& operator=(GemmPlan&& other) noexcept;
  GemmPlan(const GemmPlan&) = delete;
  GemmPlan& operator=(const GemmPlan&) = delete;

  // Chooses the algorithm for `shape` using at most max_workspace_bytes of
  // workspace (32 MiB lets Hopper use every algorithm). lt_handle is
  // LtHandle::get(). Throws visionrt::Error: unsupported (with the reason)
  // when can_implement refuses the shape or cuBLASLt has no algorithm for it,
  // out_of_memory or device_error when cuBLASLt fails.
  static GemmPlan create(const GemmShape& shape, size_t max_workspace_bytes, void* lt_handle);

  bool valid() const { return a_layout_ != nullptr; }
  const GemmShape& shape() const { return shape_; }
  size_t workspace_bytes() const { return workspace_bytes_; }
  void* lt_handle() const { return handle_; }

 private:
  friend void gemm_lt(const GemmPlan& plan, const GemmArgs& args);
  void reset() noexcept;

  GemmShape shape_{};
  void* handle_ = nullptr;    // cublasLtHandle_t, not owned
  void* a_layout_ = nullptr;  // cublasLtMatrixLayout_t of W
  void* b_layout_ = nullptr;  // of x
  void* d_layout_ = nullptr;  // of out, and of residual (C)
  size_t workspace_bytes_ = 0;
  alignas(8) unsigned char algo_[64] = {};  // cublasLtMatmulAlgo_t
};

// Shape rules: a known data type, tf32 only with f32, a known epilogue, and
// 1 <= M, N, K <= INT32_MAX.
bool can_implement(const GemmShape& shape, std::string* why);

// The shape rules plus the pointer rules above, except the workspace (which
// depends on the plan).
bool can_implement(const GemmShape& shape, const GemmArgs& args, std::string* why);

// Everything gemm_lt checks: a valid plan, its shape with args, and the workspace.
bool can_implement(const GemmPlan& plan, const GemmArgs& args, std::string* why);

// Enqueues the product on args.stream; throws visionrt::Error (unsupported when
// can_implement refuses, device_error when cuBLASLt fails).
void gemm_lt(const GemmPlan& plan, const GemmArgs& args);

}  // namespace visionrt::kernels
