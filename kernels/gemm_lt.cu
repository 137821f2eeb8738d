// Linear layers on cuBLASLt (host code only).
//
// Row-major to column-major: cuBLASLt's matrices are column-major, and a
// row-major [R, C] buffer is the column-major [C, R] matrix over the same
// bytes. So row-major out[M, N] = x[M, K] . W[N, K]^T is computed as the
// column-major product
//   D[N, M] = op_T(A) . B,  A = W as stored: column-major [K, N], ld K,
//                           B = x as stored: column-major [K, M], ld K,
//                           D = out as stored: column-major [N, M], ld N,
// the "TN" case every cuBLASLt kernel family supports. CUBLASLT_ORDER_ROW
// layouts would say the same thing, but fewer algorithms (and fewer epilogues)
// take them, so plain column-major layouts are used instead.
//
// cuBLASLt's bias has one element per row of D, here per output feature n:
// exactly nn.Linear's bias[N].
#include <cublasLt.h>

#include <cstring>
#include <limits>
#include <utility>

#include "kernels/cuda_common.cuh"
#include "kernels/gemm_lt.hpp"

namespace visionrt::kernels {
namespace {

static_assert(sizeof(cublasLtMatmulAlgo_t) == 64, "GemmPlan::algo_ holds a cublasLtMatmulAlgo_t");

// Alignment the algorithms are chosen for, and that every pointer must meet.
constexpr uint32_t kAlignment = 16;
// cuBLASLt's workspace pointer: 256 bytes, as cuBLAS asks of cublasSetWorkspace.
constexpr uintptr_t kWorkspaceAlignment = 256;
constexpr int kHeuristicResults = 8;

StatusCode code_of(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_ALLOC_FAILED: return StatusCode::out_of_memory;
    case CUBLAS_STATUS_NOT_SUPPORTED:
    case CUBLAS_STATUS_ARCH_MISMATCH:
    case CUBLAS_STATUS_INVALID_VALUE: return StatusCode::unsupported;
    default: return StatusCode::device_error;
  }
}

void check_lt(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    fail(code_of(status), what, " failed: ", cublasLtGetStatusName(status), " (",
         cublasLtGetStatusString(status), ")");
}

cudaDataType_t lt_type(DType t) {
  switch (t) {
    case DType::f32: return CUDA_R_32F;
    case DType::f16: return CUDA_R_16F;
    case DType::bf16: return CUDA_R_16BF;
    default: break;
  }
  fail(StatusCode::internal, "unknown kernel data type ", static_cast<int>(t));
}

cublasLtEpilogue_t lt_epilogue(Activation act, bool bias) {
  switch (act) {
    case Activation::none: return bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    case Activation::relu: return bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
    case Activation::gelu_tanh: return bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    default: break;
  }
  fail(StatusCode::internal, "no cuBLASLt epilogue for activation ", static_cast<int>(act));
}

bool lt_has_activation(Activation act) {
  return act == Activation::none || act == Activation::relu || act == Activation::gelu_tanh;
}

template <typename T>
void set_desc(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const T& value,
              const char* what) {
  check_lt(cublasLtMatmulDescSetAttribute(desc, attr, &value, sizeof(value)), what);
}

template <typename T>
void set_pref(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr,
              const T& value, const char* what) {
  check_lt(cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value)), what);
}

// Fills a matmul descriptor in caller storage (cublasLtMatmulDescInit: no
// allocation, nothing to destroy). gemm_lt builds one per call on the stack so
// that the plan never changes: only the bias pointer differs between calls.
void init_desc(cublasLtMatmulDescOpaque_t* storage, const GemmShape& s, const void* bias) {
  const cublasComputeType_t compute = s.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  check_lt(cublasLtMatmulDescInit(storage, compute, CUDA_R_32F), "cublasLtMatmulDescInit");
  const cublasLtMatmulDesc_t desc = storage;
  set_desc(desc, CUBLASLT_MATMUL_DESC_TRANSA, int32_t(CUBLAS_OP_T), "set TRANSA");
  set_desc(desc, CUBLASLT_MATMUL_DESC_TRANSB, int32_t(CUBLAS_OP_N), "set TRANSB");
  set_desc(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, uint32_t(lt_epilogue(s.epilogue.act, s.has_bias)),
           "set EPILOGUE");
  if (s.has_bias) {
    set_desc(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias, "set BIAS_POINTER");
    set_desc(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, int32_t(lt_type(s.dtype)),
             "set BIAS_DATA_TYPE");
  }
}

struct PreferenceOwner {
  cublasLtMatmulPreference_t pref = nullptr;
  ~PreferenceOwner() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
  }
};



}  // namespace

// ---- LtHandle ------------------------------------------------------------------

LtHandle::LtHandle() {
  cublasLtHandle_t h = nullptr;
  const cublasStatus_t status = cublasLtCreate(&h);
  if (status != CUBLAS_STATUS_SUCCESS)
    fail(StatusCode::device_error, "cublasLtCreate failed: ", cublasLtGetStatusName(status), " (",
         cublasLtGetStatusString(status), ")");
  handle_ = h;
}

LtHandle::~LtHandle() {
  if (handle_) cublasLtDestroy(static_cast<cublasLtHandle_t>(handle_));
}

// ---- validation ----------------------------------------------------------------

bool can_implement(const GemmShape& s, std::string* why) {
  Requirements req{why};
  req.require(is_float(s.dtype), "not a float data type: ", dtype_name(s.dtype));
  req.require(lt_has_activation(s.epilogue.act), "cuBLASLt has no activation ",
              static_cast<int>(s.epilogue.act), " (it has none, ReLU and the tanh GELU)");
  req.require(!s.epilogue.residual || s.epilogue.residual_first(),
              "cuBLASLt adds the residual before the activation, not after");
  req.require(!s.tf32 || s.dtype == DType::f32, "tf32 needs f32 data, not ",
              dtype_name(s.dtype));
  req.require(s.M >= 1 && s.N >= 1 && s.K >= 1, "GEMM ", s.M, "x", s.N, "x", s.K,
              ": M, N and K must be positive");
  const int64_t int_max = std::numeric_limits<int32_t>::max();
  req.require(s.M <= int_max && s.N <= int_max && s.K <= int_max, "GEMM ", s.M, "x", s.N, "x",
              s.K, ": M, N and K must fit in int32");
  return req.ok;
}

bool can_implement(const GemmShape& s, const GemmArgs& a, std::string* why) {
  if (!can_implement(s, why)) return false;
  Requirements req{why};
  req.require(a.x && a.w && a.out, "null x, w or out");
  req.require(s.has_bias == (a.bias != nullptr),
              s.has_bias ? "the plan adds a bias but none was given"
                         : "a bias was given but the plan has none");
  req.require(s.epilogue.residual == (a.residual != nullptr),
              s.epilogue.residual ? "the plan adds a residual but none was given"
                             : "a residual was given but the plan has none");
  if (!req.ok) return false;
  req.require(is_aligned(a.x, kAlignment) && is_aligned(a.w, kAlignment) &&
                  is_aligned(a.out, kAlignment) && is_aligned(a.bias, kAlignment) &&
                  is_aligned(a.residual, kAlignment),
              "x, w, bias, residual and out must be ", kAlignment, "-byte aligned");
  // With M, N, K < 2^31 and elements of at most 4 bytes, no size overflows.
  const uint64_t es = dtype_size(s.dtype);
  const uint64_t M = uint64_t(s.M), N = uint64_t(s.N), K = uint64_t(s.K);
  const uint64_t out_bytes = M * N * es;
  req.require(!overlaps(a.out, out_bytes, a.x, M * K * es) &&
                  !overlaps(a.out, out_bytes, a.w, N * K * es),
              "out overlaps x or w");
  req.require(!a.bias || !overlaps(a.out, out_bytes, a.bias, N * es), "out overlaps bias");
  req.require(!a.residual || a.residual == a.out || !overlaps(a.out, out_bytes, a.residual, out_bytes),
              "residual partly overlaps out (it may only be out itself)");
  return req.ok;
}

bool can_implement(const GemmPlan& plan, const GemmArgs& a, std::string* why) {
  Requirements req{why};
  req.require(plan.valid(), "empty GEMM plan");
  if (!req.ok || !can_implement(plan.shape(), a, why)) return false;
  require_workspace(req, a.workspace, a.workspace_bytes, plan.workspace_bytes(), kWorkspaceAlignment);
  return req.ok;
}

// ---- GemmPlan --------------------------------------------------------------------

GemmPlan::~GemmPlan() { reset(); }

void GemmPlan::reset() noexcept {
  for (void** layout : {&a_layout_, &b_layout_, &d_layout_}) {
    if (*layout) cublasLtMatrixLayoutDestroy(static_cast<cublasLtMatrixLayout_t>(*layout));
    *layout = nullptr;
  }
  handle_ = nullptr;
  workspace_bytes_ = 0;
}

GemmPlan::GemmPlan(GemmPlan&& other) noexcept { *this = std::move(other); }

GemmPlan& GemmPlan::operator=(GemmPlan&& other) noexcept {
  if (this != &other) {
    reset();
    shape_ = other.shape_;
    handle_ = std::exchange(other.handle_, nullptr);
    a_layout_ = std::exchange(other.a_layout_, nullptr);
    b_layout_ = std::exchange(other.b_layout_, nullptr);
    d_layout_ = std::exchange(other.d_layout_, nullptr);
    workspace_bytes_ = std::exchange(other.workspace_bytes_, 0);
    std::memcpy(algo_, other.algo_, sizeof(algo_));
  }
  return *this;
}

GemmPlan GemmPlan::create(const GemmShape& s, size_t max_workspace_bytes, void* lt_handle) {
  std::string why;
  if (!can_implement(s, &why)) fail(StatusCode::unsupported, "gemm_lt: ", why);
  if (!lt_handle) fail(StatusCode::unsupported, "gemm_lt: no cuBLASLt handle");
  const cublasLtHandle_t handle = static_cast<cublasLtHandle_t>(lt_handle);
  const cudaDataType_t type = lt_type(s.dtype);

  GemmPlan plan;  // frees whatever was created if a step below throws
  plan.shape_ = s;
  plan.handle_ = lt_handle;
  auto layout = [&](void** out, int64_t rows, int64_t cols, const char* what) {
    cublasLtMatrixLayout_t l = nullptr;
    check_lt(cublasLtMatrixLayoutCreate(&l, type, uint64_t(rows), uint64_t(cols), rows), what);
    *out = l;
  };
  layout(&plan.a_layout_, s.K, s.N, "cublasLtMatrixLayoutCreate(W)");
  layout(&plan.b_layout_, s.K, s.M, "cublasLtMatrixLayoutCreate(x)");
  layout(&plan.d_layout_, s.N, s.M, "cublasLtMatrixLayoutCreate(out)");

  // The heuristic never reads the bias but takes its alignment from the
  // pointer's value: a stand-in exactly kAlignment-aligned makes it choose
  // among algorithms that work with any bias can_implement accepts.
  cublasLtMatmulDescOpaque_t desc;
  init_desc(&desc, s, reinterpret_cast<const void*>(uintptr_t{kAlignment}));

  PreferenceOwner pref;
  check_lt(cublasLtMatmulPreferenceCreate(&pref.pref), "cublasLtMatmulPreferenceCreate");
  set_pref(pref.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, uint64_t(max_workspace_bytes),
           "set MAX_WORKSPACE_BYTES");
  for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    set_pref(pref.pref, attr, kAlignment, "set MIN_ALIGNMENT");
  // Split-K that adds partial sums in place in the output type would
  // accumulate in f16/bf16; keep only unsplit products and fp32 partial sums.
  if (s.dtype != DType::f32)
    set_pref(pref.pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
             uint32_t(CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE),
             "set REDUCTION_SCHEME_MASK");

  cublasLtMatmulHeuristicResult_t results[kHeuristicResults] = {};
  int count = 0;
  const auto a = static_cast<cublasLtMatrixLayout_t>(plan.a_layout_);
  const auto b = static_cast<cublasLtMatrixLayout_t>(plan.b_layout_);
  const auto d = static_cast<cublasLtMatrixLayout_t>(plan.d_layout_);
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(
      handle, &desc, a, b, d, d, pref.pref, kHeuristicResults, results, &count);
  const int chosen = [&] {
    for (int i = 0; i < count; ++i)
      if (results[i].state == CUBLAS_STATUS_SUCCESS && results[i].workspaceSize <= max_workspace_bytes)
        return i;
    return -1;
  }();
  if (status == CUBLAS_STATUS_NOT_SUPPORTED || (status == CUBLAS_STATUS_SUCCESS && chosen < 0))
    fail(StatusCode::unsupported, "gemm_lt: cuBLASLt has no algorithm for ", dtype_name(s.dtype),
         s.tf32 ? " (tf32)" : "", " ", s.M, "x", s.N, "x", s.K, " with epilogue ",
         static_cast<int>(s.epilogue.act), s.has_bias ? " + bias" : "",
         s.epilogue.residual ? " + residual" : "", " within ", max_workspace_bytes,
         " bytes of workspace");
  check_lt(status, "cublasLtMatmulAlgoGetHeuristic");
  std::memcpy(plan.algo_, &results[chosen].algo, sizeof(plan.algo_));
  plan.workspace_bytes_ = results[chosen].workspaceSize;
  return plan;
}

// ---- run -------------------------------------------------------------------------

void gemm_lt(const GemmPlan& plan, const GemmArgs& args) {
  std::string why;
  if (!can_implement(plan, args, &why)) fail(StatusCode::unsupported, "gemm_lt: ", why);
  const GemmShape& s = plan.shape();
  cublasLtMatmulDescOpaque_t desc;
  init_desc(&desc, s, args.bias);
  const float alpha = 1.f, beta = s.epilogue.residual ? 1.f : 0.f;
  // Without a residual C is out itself (never read with beta = 0); C and D
  // share one layout, which is also what in-place (residual == out) needs.
  const void* c = s.epilogue.residual ? args.residual : args.out;
  const auto d = static_cast<cublasLtMatrixLayout_t>(plan.d_layout_);
  cublasLtMatmulAlgo_t algo;
  std::memcpy(&algo, plan.algo_, sizeof(algo));
  check_lt(cublasLtMatmul(static_cast<cublasLtHandle_t>(plan.lt_handle()), &desc, &alpha, args.w,
                          static_cast<cublasLtMatrixLayout_t>(plan.a_layout_), args.x,
                          static_cast<cublasLtMatrixLayout_t>(plan.b_layout_), &beta, c, d,
                          args.out, d, &algo, plan.workspace_bytes() ? args.workspace : nullptr,
                          plan.workspace_bytes(), as_stream(args.stream)),
           "gemm_lt cublasLtMatmul");
}

}  // namespace visionrt::kernels
