// Convolutions on cuDNN 9's graph (backend) API, plus two small kernels: the
// zero-channel padding of x and the weight, and the epilogue of the unfused path.
//
// Why the graph API rather than the legacy cudnnConvolutionForward /
// cudnnConvolutionBiasActivationForward (both still in cuDNN 9): everything
// that can fail is decided in ConvPlan::create. Finalising an execution plan
// is cuDNN's own test of whether an engine runs this exact graph (data types,
// layout, fusion, alignment), so the fused graph is tried there and, when no
// engine takes it, the plan falls back to the plain convolution plus the
// epilogue kernel. The legacy fused call can only say NOT_SUPPORTED when it is
// run, possibly inside a graph capture, and its algorithm heuristic
// (cudnnGetConvolutionForwardAlgorithm_v7) rates the plain convolution, not
// the fused one. Running is then one cudnnBackendExecute with a fixed plan.
//
// The graph, NHWC through strides on cuDNN's logical [N, C, H, W] dimensions:
//   conv(x, w) -> c                 c virtual, fp32 (compute type FLOAT)
//   fused:  c (+ residual) + bias [1,Co,1,1] (-> ReLU) -> y
//   plain:  conv writes y directly
// Intermediates are virtual fp32 tensors, so the fused result is rounded once.
// With a residual the two additions are tried in both orders, the residual
// first (the legacy act(conv + z + bias)): cuDNN's precompiled fused engines
// match fixed shapes of graph, and cuDNN 9.19's heuristics, asked offline for
// an H200 (CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR), offer engines for that order
// only. The two sums differ by one fp32 rounding at most.
//
// Engines: heuristics mode A, then the fallback list. Excluded by their
// numerical notes: down-converting inputs and reduced-precision reductions
// (accumulation must stay fp32), FFT and Winograd (their error is not a dot
// product's, which the tolerances and the CPU backend assume),
// non-deterministic ones (a captured graph must replay what a direct run
// computes), and for f32 without tf32 tensor-core ones (TF32). Engines that
// compile at plan time (runtime fusion) come last, after the plain graph on a
// precompiled engine: a compile can take seconds per shape, at every model
// load; an unfused epilogue costs one pass over the output.
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <limits>
#include <utility>
#include <vector>

#include "kernels/conv2d_cudnn.hpp"
#include "kernels/cuda_common.cuh"

static_assert(CUDNN_MAJOR >= 9, "kernels/conv2d_cudnn.cu needs cuDNN 9's graph API");

namespace visionrt::kernels {
namespace {

constexpr int kThreads = 256;
constexpr uintptr_t kAlignment = 16;            // of every tensor, as the plan is chosen for
constexpr uintptr_t kWorkspaceAlignment = 256;  // of the workspace and of cuDNN's part of it
constexpr int64_t kMaxElements = std::numeric_limits<int32_t>::max();

// Unique ids of the graph's tensors; the variant pack names them at run time.
enum Uid : int64_t { kX = 1, kW, kBias, kResidual, kY, kConvOut, kSum1, kSum2 };

// ---- errors and descriptors ----------------------------------------------------

StatusCode code_of(cudnnStatus_t status) {
  if (status == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
      status == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED)
    return StatusCode::out_of_memory;
  return CUDNN_STATUS_CATEGORY(status) == CUDNN_STATUS_NOT_SUPPORTED ? StatusCode::unsupported
                                                                      : StatusCode::device_error;
}

// cuDNN's explanation of the last failure on this thread (often names the attribute).
std::string last_cudnn_message() {
  char message[1024] = {};
  cudnnGetLastErrorString(message, sizeof(message));
  return message;
}

std::string describe(cudnnStatus_t status) {
  const std::string detail = last_cudnn_message();
  return str_cat(cudnnGetErrorString(status), detail.empty() ? "" : " (" + detail + ")");
}

void check_cudnn(cudnnStatus_t status, const char* what) {
  if (status != CUDNN_STATUS_SUCCESS) fail(code_of(status), what, " failed: ", describe(status));
}

struct DescDeleter {
  void operator()(void* d) const { cudnnBackendDestroyDescriptor(d); }
};
// cudnnBackendDescriptor_t is void*.
using DescPtr = std::unique_ptr<void, DescDeleter>;

DescPtr make_desc(cudnnBackendDescriptorType_t type) {
  cudnnBackendDescriptor_t d = nullptr;
  check_cudnn(cudnnBackendCreateDescriptor(type, &d), "cudnnBackendCreateDescriptor");
  return DescPtr(d);
}

void set(void* desc, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
         int64_t count, const void* values, const char* what) {
  check_cudnn(cudnnBackendSetAttribute(desc, name, type, count, values), what);
}

void set_desc(void* desc, cudnnBackendAttributeName_t name, void* value, const char* what) {
  set(desc, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &value, what);
}

cudnnDataType_t cudnn_type(DType t) {
  switch (t) {
    case DType::f32: return CUDNN_DATA_FLOAT;
    case DType::f16: return CUDNN_DATA_HALF;
    case DType::bf16: return CUDNN_DATA_BFLOAT16;
    default: break;
  }
  fail(StatusCode::internal, "unknown kernel data type ", static_cast<int>(t));
}


size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// Bytes of the zero-padded copy of x at the front of the workspace (0 when
// Ci needs no padding), rounded up so that cuDNN's part stays aligned.
size_t padded_input_bytes(const ConvShape& s) {
  const int64_t cw = conv2d_weight_channels(s);
  if (cw == s.Ci) return 0;
  return round_up(size_t(s.N * s.H * s.W * cw) * dtype_size(s.dtype), kWorkspaceAlignment);
}

// ---- the operation graph ---------------------------------------------------------

// One operation graph and every descriptor it refers to; plans made from it
// keep it alive.
struct Graph {
  std::vector<DescPtr> owned;
  void* op_graph = nullptr;
  bool fused = false;
  bool has_residual = false;  // the residual is a graph input

  void* keep(DescPtr d) {
    owned.push_back(std::move(d));
    return owned.back().get();
  }
};

// A 4-D tensor of logical dimensions [n, c, h, w] stored channel-last.
void* tensor(Graph& g, Uid uid, cudnnDataType_t type, int64_t n, int64_t c, int64_t h, int64_t w,
             bool is_virtual) {
  void* t = g.keep(make_desc(CUDNN_BACKEND_TENSOR_DESCRIPTOR));
  const int64_t dims[4] = {n, c, h, w};
  const int64_t strides[4] = {h * w * c, 1, w * c, c};
  const int64_t id = uid, alignment = int64_t(kAlignment);
  set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type, "set TENSOR_DATA_TYPE");
  set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims, "set TENSOR_DIMENSIONS");
  set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides, "set TENSOR_STRIDES");
  set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &id, "set TENSOR_UNIQUE_ID");
  set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment, "set TENSOR_BYTE_ALIGNMENT");
  set(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual, "set TENSOR_IS_VIRTUAL");
  check_cudnn(cudnnBackendFinalize(t), "finalising a tensor descriptor");
  return t;
}

void* convolution(Graph& g, const ConvShape& s, void* x, void* w, void* y) {
  void* conv = g.keep(make_desc(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR));
  const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;  // no kernel flip, as PyTorch
  const int64_t spatial = 2, stride[2] = {s.stride, s.stride}, pad[2] = {s.pad, s.pad};
  const int64_t dilation[2] = {s.dilation, s.dilation};
  set(conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute, "set COMP_TYPE");
  set(conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode, "set CONV_MODE");
  set(conv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial, "set SPATIAL_DIMS");
  set(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, stride, "set FILTER_STRIDES");
  set(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pad, "set PRE_PADDINGS");
  set(conv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, pad, "set POST_PADDINGS");
  set(conv, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dilation, "set DILATIONS");
  check_cudnn(cudnnBackendFinalize(conv), "finalising the convolution descriptor");

  void* op = g.keep(make_desc(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR));
  const float alpha = 1.f, beta = 0.f;
  set_desc(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, x, "set CONVOLUTION_FORWARD_X");
  set_desc(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, w, "set CONVOLUTION_FORWARD_W");
  set_desc(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, y, "set CONVOLUTION_FORWARD_Y");
  set_desc(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, conv, "set CONV_DESC");
  set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha, "set ALPHA");
  set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta, "set BETA");
  check_cudnn(cudnnBackendFinalize(op), "finalising the convolution operation");
  return op;
}

// y = x + b (ADD) or y = max(x, 0) (RELU_FWD, b null), computed in fp32.
void* pointwise(Graph& g, cudnnPointwiseMode_t mode, void* x, void* b, void* y) {
  void* pw = g.keep(make_desc(CUDNN_BACKEND_POINTWISE_DESCRIPTOR));
  const cudnnDataType_t precision = CUDNN_DATA_FLOAT;
  set(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode, "set POINTWISE_MODE");
  set(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &precision, "set MATH_PREC");
  check_cudnn(cudnnBackendFinalize(pw), "finalising a pointwise descriptor");

  void* op = g.keep(make_desc(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR));
  set_desc(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw, "set PW_DESCRIPTOR");
  set_desc(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x, "set POINTWISE_XDESC");
  if (b) set_desc(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, b, "set POINTWISE_BDESC");
  set_desc(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y, "set POINTWISE_YDESC");
  check_cudnn(cudnnBackendFinalize(op), "finalising a pointwise operation");
  return op;
}

enum class Variant { plain, residual_then_bias, bias_then_residual };

// Builds and finalises the operation graph of `variant`; throws unsupported
// when cuDNN refuses the graph itself.
Graph build_graph(const ConvShape& s, Variant variant, cudnnHandle_t handle) {
  Graph g;
  g.fused = variant != Variant::plain;
  g.has_residual = g.fused && s.epilogue.residual;
  const cudnnDataType_t io = cudnn_type(s.dtype), f32 = CUDNN_DATA_FLOAT;
  const int64_t cw = conv2d_weight_channels(s), ho = conv2d_out_h(s), wo = conv2d_out_w(s);
  void* x = tensor(g, kX, io, s.N, cw, s.H, s.W, false);
  void* w = tensor(g, kW, io, s.Co, cw, s.kh, s.kw, false);
  void* y = tensor(g, kY, io, s.N, s.Co, ho, wo, false);
  std::vector<void*> ops;
  if (!g.fused) {
    ops.push_back(convolution(g, s, x, w, y));
  } else {
    // The chain of additions and the activation; the last step writes y.
    std::vector<std::pair<cudnnPointwiseMode_t, void*>> steps;  // (mode, second operand)
    void* bias = tensor(g, kBias, io, 1, s.Co, 1, 1, false);
    void* residual = g.has_residual ? tensor(g, kResidual, io, s.N, s.Co, ho, wo, false) : nullptr;
    if (variant == Variant::residual_then_bias && residual)
      steps.push_back({CUDNN_POINTWISE_ADD, residual});
    steps.push_back({CUDNN_POINTWISE_ADD, bias});
    if (variant == Variant::bias_then_residual && residual)
      steps.push_back({CUDNN_POINTWISE_ADD, residual});
    if (s.epilogue.act == Activation::relu) steps.push_back({CUDNN_POINTWISE_RELU_FWD, nullptr});
    const Uid virtual_ids[] = {kConvOut, kSum1, kSum2};
    void* current = tensor(g, kConvOut, f32, s.N, s.Co, ho, wo, true);
    ops.push_back(convolution(g, s, x, w, current));
    for (size_t i = 0; i < steps.size(); ++i) {
      void* next = i + 1 == steps.size() ? y : tensor(g, virtual_ids[i + 1], f32, s.N, s.Co, ho, wo, true);
      ops.push_back(pointwise(g, steps[i].first, current, steps[i].second, next));
      current = next;
    }
  }
  void* graph = g.keep(make_desc(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR));
  set(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, int64_t(ops.size()),
      ops.data(), "set OPERATIONGRAPH_OPS");
  set(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "set OPERATIONGRAPH_HANDLE");
  const cudnnStatus_t status = cudnnBackendFinalize(graph);
  if (status != CUDNN_STATUS_SUCCESS)
    fail(StatusCode::unsupported, "cuDNN refuses the operation graph: ", describe(status));
  g.op_graph = graph;
  return g;
}

// ---- engine choice -----------------------------------------------------------------

// The engine configurations heuristics `mode` proposes, best first (none when
// the mode has nothing for this graph).
std::vector<DescPtr> engine_configs(void* op_graph, cudnnBackendHeurMode_t mode) {
  DescPtr heur = make_desc(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  set_desc(heur.get(), CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, op_graph, "set ENGINEHEUR_OPERATION_GRAPH");
  set(heur.get(), CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode, "set ENGINEHEUR_MODE");
  if (cudnnBackendFinalize(heur.get()) != CUDNN_STATUS_SUCCESS) return {};
  int64_t count = 0;
  if (cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                               0, &count, nullptr) != CUDNN_STATUS_SUCCESS || count <= 0)
    return {};
  std::vector<DescPtr> configs;
  std::vector<void*> raw;
  for (int64_t i = 0; i < count; ++i) {
    configs.push_back(make_desc(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
    raw.push_back(configs.back().get());
  }
  int64_t returned = 0;
  check_cudnn(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                       CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &returned, raw.data()),
              "reading the engine heuristics");
  configs.resize(size_t(std::clamp<int64_t>(returned, 0, count)));
  return configs;
}

struct EngineNotes {
  bool acceptable = false;  // numerics as the header promises
  bool runtime_compiled = false;
};

EngineNotes engine_notes(void* config, const ConvShape& s) {
  EngineNotes notes;
  DescPtr engine = make_desc(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  void* e = engine.get();
  int64_t count = 0;
  if (cudnnBackendGetAttribute(config, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                               &count, &e) != CUDNN_STATUS_SUCCESS)
    return notes;
  std::array<cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_TYPE_COUNT> numerical{};
  std::array<cudnnBackendBehaviorNote_t, CUDNN_BEHAVIOR_NOTE_TYPE_COUNT> behavior{};
  int64_t numerical_count = 0, behavior_count = 0;
  if (cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                               int64_t(numerical.size()), &numerical_count,
                               numerical.data()) != CUDNN_STATUS_SUCCESS ||
      cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                               int64_t(behavior.size()), &behavior_count,
                               behavior.data()) != CUDNN_STATUS_SUCCESS)
    return notes;
  notes.acceptable = true;
  const bool exact_f32 = s.dtype == DType::f32 && !s.tf32;
  for (int64_t i = 0; i < std::min<int64_t>(numerical_count, numerical.size()); ++i) {
    switch (numerical[size_t(i)]) {
      case CUDNN_NUMERICAL_NOTE_TENSOR_CORE:
        if (exact_f32) notes.acceptable = false;
        break;
      case CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS:
      case CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION:
      case CUDNN_NUMERICAL_NOTE_FFT:
      case CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13: notes.acceptable = false; break;
      default: break;
    }
  }
  for (int64_t i = 0; i < std::min<int64_t>(behavior_count, behavior.size()); ++i)
    if (behavior[size_t(i)] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) notes.runtime_compiled = true;
  return notes;
}

// A graph with the configurations proposed for it.
struct Candidate {
  Graph graph;
  std::vector<DescPtr> configs;
};

}  // namespace

// ---- ConvPlan ----------------------------------------------------------------------

struct ConvPlan::Impl {
  std::vector<DescPtr> descriptors;  // the graph, then the engine configuration, then the plan
  void* plan = nullptr;              // the execution plan, last of descriptors
  cudnnHandle_t handle = nullptr;    // not owned
  bool residual_in_graph = false;
  size_t input_bytes = 0;            // padded_input_bytes(shape)
  size_t cudnn_workspace = 0;        // cuDNN's part, after the padded input
};

ConvPlan::ConvPlan() = default;
ConvPlan::~ConvPlan() = default;
ConvPlan::ConvPlan(ConvPlan&& other) noexcept
    : shape_(other.shape_),
      workspace_bytes_(std::exchange(other.workspace_bytes_, 0)),
      fused_(std::exchange(other.fused_, false)),
      impl_(std::move(other.impl_)) {}

ConvPlan& ConvPlan::operator=(ConvPlan&& other) noexcept {
  if (this != &other) {
    shape_ = other.shape_;
    workspace_bytes_ = std::exchange(other.workspace_bytes_, 0);
    fused_ = std::exchange(other.fused_, false);
    impl_ = std::move(other.impl_);
  }
  return *this;
}

ConvPlan ConvPlan::create(const ConvShape& s, size_t max_workspace_bytes, void* cudnn_handle) {
  std::string why;
  if (!can_implement(s, &why)) fail(StatusCode::unsupported, "conv2d_cudnn: ", why);
  if (!cudnn_handle) fail(StatusCode::unsupported, "conv2d_cudnn: no cuDNN handle");
  const cudnnHandle_t handle = static_cast<cudnnHandle_t>(cudnn_handle);
  const size_t input_bytes = padded_input_bytes(s);
  if (input_bytes > max_workspace_bytes)
    fail(StatusCode::unsupported, "conv2d_cudnn: the channel-padded copy of x needs ", input_bytes,
         " bytes of workspace, ", max_workspace_bytes, " allowed");
  const size_t budget = max_workspace_bytes - input_bytes;

  // Fused first when the epilogue's order is one cuDNN's graph can express.
  std::vector<Variant> variants;
  if (!s.epilogue.residual || s.epilogue.residual_first()) {
    if (s.epilogue.residual) variants.push_back(Variant::residual_then_bias);
    variants.push_back(Variant::bias_then_residual);  // without a residual: the bias alone
  }
  variants.push_back(Variant::plain);
  std::vector<Candidate> candidates;
  std::string refusals;
  for (Variant v : variants) {
    Candidate c;
    // A fused graph cuDNN refuses for any reason but memory (NOT_SUPPORTED,
    // and also BAD_PARAM or an internal error some versions give for a
    // fusion they cannot build) leaves the plain convolution to try.
    try {
      c.graph = build_graph(s, v, handle);
      for (cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK})
        for (DescPtr& config : engine_configs(c.graph.op_graph, mode)) c.configs.push_back(std::move(config));
    } catch (const Error& e) {
      if (e.code() == StatusCode::out_of_memory || v == Variant::plain) throw;
      refusals += str_cat("; fused graph: ", e.what());
      continue;
    }
    candidates.push_back(std::move(c));
  }

  // Precompiled engines on every graph first, then those that compile.
  int tried = 0;
  std::string last_refusal;
  for (bool compiled : {false, true}) {
    for (Candidate& c : candidates) {
      for (DescPtr& config : c.configs) {
        if (!config) continue;  // taken by an earlier pass
        const EngineNotes notes = engine_notes(config.get(), s);
        if (!notes.acceptable || notes.runtime_compiled != compiled) continue;
        ++tried;
        DescPtr plan = make_desc(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
        set_desc(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, config.get(), "set ENGINE_CONFIG");
        const cudnnStatus_t status = cudnnBackendFinalize(plan.get());
        if (status != CUDNN_STATUS_SUCCESS) {
          last_refusal = describe(status);
          continue;
        }
        int64_t workspace = 0, count = 0;
        check_cudnn(cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                             CUDNN_TYPE_INT64, 1, &count, &workspace),
                    "reading the plan's workspace size");
        if (workspace < 0 || size_t(workspace) > budget) {
          last_refusal = str_cat("needs ", workspace, " bytes of workspace, ", budget, " left");
          continue;
        }
        ConvPlan result;
        result.shape_ = s;
        result.fused_ = c.graph.fused;
        result.workspace_bytes_ = input_bytes + size_t(workspace);
        result.impl_ = std::make_unique<Impl>();
        Impl& impl = *result.impl_;
        impl.descriptors = std::move(c.graph.owned);
        impl.descriptors.push_back(std::move(config));
        impl.descriptors.push_back(std::move(plan));
        impl.plan = impl.descriptors.back().get();
        impl.handle = handle;
        impl.residual_in_graph = c.graph.has_residual;
        impl.input_bytes = input_bytes;
        impl.cudnn_workspace = size_t(workspace);
        return result;
      }
    }
  }
  fail(StatusCode::unsupported, "conv2d_cudnn: cuDNN has no engine for ", dtype_name(s.dtype),
       s.tf32 ? " (tf32)" : "", " x [", s.N, ", ", s.H, ", ", s.W, ", ", s.Ci, "] * w [", s.Co, ", ",
       s.kh, ", ", s.kw, "] stride ", s.stride, " pad ", s.pad, " dilation ", s.dilation, " within ",
       budget, " bytes of workspace: ", tried, " engines with fp32 accumulation tried",
       last_refusal.empty() ? "" : ", the last refused: " + last_refusal, refusals);
}

// ---- kernels ---------------------------------------------------------------------------

namespace {

// out[r, c] = c < ci ? in[r, c] : 0 for rows of cp elements; U is the element's bits.
template <typename U>
__global__ void __launch_bounds__(kThreads)
    pad_channels_kernel(const U* in, U* out, int64_t ci, int64_t cp, int64_t items) {
  for (int64_t o = blockIdx.x * int64_t(kThreads) + threadIdx.x; o < items;
       o += int64_t(gridDim.x) * kThreads) {
    const int64_t c = o % cp;
    out[o] = c < ci ? in[o / cp * ci + c] : U(0);  // all-zero bits: +0 in every type
  }
}

void pad_channels(DType dtype, const void* in, void* out, int64_t rows, int64_t ci, int64_t cp,
                  cudaStream_t stream) {
  const int64_t items = rows * cp;
  const unsigned blocks = grid_stride_blocks(items, kThreads);
  if (dtype_size(dtype) == 4) {
    pad_channels_kernel<uint32_t><<<blocks, kThreads, 0, stream>>>(
        static_cast<const uint32_t*>(in), static_cast<uint32_t*>(out), ci, cp, items);
  } else {
    pad_channels_kernel<uint16_t><<<blocks, kThreads, 0, stream>>>(
        static_cast<const uint16_t*>(in), static_cast<uint16_t*>(out), ci, cp, items);
  }
  check_launch("conv2d channel padding launch");
}

struct EpilogueArgs {
  void* out;             // [rows, cols], holding the convolution
  const void* bias;      // [cols]
  const void* residual;  // [rows, cols] or null
  int64_t cols;
  int64_t items;         // elements, or 16-byte vectors in the vector kernel
  bool relu;
  bool residual_first;   // added before the ReLU
};


// The unfused path's epilogue, in place on out: fp32 sums in the node's
// order, one rounding.
template <typename T, int E>
__global__ void __launch_bounds__(kThreads) epilogue_kernel(const EpilogueArgs a) {
  T* out = static_cast<T*>(a.out);
  const T* bias = static_cast<const T*>(a.bias);
  const T* residual = static_cast<const T*>(a.residual);
  for (int64_t item = blockIdx.x * int64_t(kThreads) + threadIdx.x; item < a.items;
       item += int64_t(gridDim.x) * kThreads) {
    const int64_t e = item * E;
    float v[E], b[E], r[E];
    load_items<T, E>(out + e, v);
    load_items<T, E>(bias + e % a.cols, b);
    if (residual) load_items<T, E>(residual + e, r);
#pragma unroll
    for (int j = 0; j < E; ++j) {
      float t = v[j] + b[j];
      if (residual && a.residual_first) t += r[j];
      if (a.relu) t = fmaxf(t, 0.f);
      if (residual && !a.residual_first) t += r[j];
      v[j] = t;
    }
    store_items<T, E>(out + e, v);
  }
}

void epilogue(const ConvShape& s, const ConvArgs& a, cudaStream_t stream) {
  const int64_t count = s.N * conv2d_out_h(s) * conv2d_out_w(s) * s.Co;
  const int64_t vec = 16 / int64_t(dtype_size(s.dtype));
  // Every pointer is 16-byte aligned (can_implement), so only the width decides.
  const bool vectorised = s.Co % vec == 0;
  EpilogueArgs e{a.out, a.bias, a.residual, s.Co, vectorised ? count / vec : count,
                 s.epilogue.act == Activation::relu, s.epilogue.residual_first()};
  dispatch_dtype(s.dtype, [&](auto tag) {
    using T = decltype(tag);
    const unsigned blocks = grid_stride_blocks(e.items, kThreads);
    if (vectorised) {
      epilogue_kernel<T, kVec16<T>><<<blocks, kThreads, 0, stream>>>(e);
    } else {
      epilogue_kernel<T, 1><<<blocks, kThreads, 0, stream>>>(e);
    }
  });
  check_launch("conv2d epilogue launch");
}

}  // namespace

// ---- shapes and validation -------------------------------------------------------------

namespace {

// Windows of `extent` taps along a padded axis; 0 when not even one fits
// (C++ division truncates toward zero, so a numerator of -1 must not reach it).
int64_t windows(int64_t in, int64_t pad, int64_t extent, int64_t stride) {
  const int64_t room = in + 2 * pad - extent;
  return stride >= 1 && room >= 0 ? room / stride + 1 : 0;
}

}  // namespace

int64_t conv2d_out_h(const ConvShape& s) {
  return windows(s.H, s.pad, s.dilation * (s.kh - 1) + 1, s.stride);
}

int64_t conv2d_out_w(const ConvShape& s) {
  return windows(s.W, s.pad, s.dilation * (s.kw - 1) + 1, s.stride);
}

int64_t conv2d_weight_channels(const ConvShape& s) {
  const int64_t vec = 16 / int64_t(dtype_size(s.dtype));
  return (s.Ci + vec - 1) / vec * vec;
}

size_t conv2d_weight_bytes(const ConvShape& s) {
  return size_t(s.Co * s.kh * s.kw * conv2d_weight_channels(s)) * dtype_size(s.dtype);
}

bool can_implement(const ConvShape& s, std::string* why) {
  Requirements req{why};
  req.require(is_float(s.dtype), "not a float data type: ", dtype_name(s.dtype));
  req.require(s.epilogue.act == Activation::none || s.epilogue.act == Activation::relu,
              "no activation ", static_cast<int>(s.epilogue.act), " (ReLU or none)");
  req.require(s.epilogue.order == ResidualOrder::act_then_residual ||
                  s.epilogue.order == ResidualOrder::residual_then_act,
              "unknown residual order ", static_cast<int>(s.epilogue.order));
  req.require(!s.tf32 || s.dtype == DType::f32, "tf32 needs f32 data, not ", dtype_name(s.dtype));
  req.require(s.N >= 1 && s.H >= 1 && s.W >= 1 && s.Ci >= 1 && s.Co >= 1 && s.kh >= 1 && s.kw >= 1,
              "sizes must be positive: x [", s.N, ", ", s.H, ", ", s.W, ", ", s.Ci, "], w [", s.Co,
              ", ", s.kh, ", ", s.kw, "]");
  req.require(s.stride >= 1 && s.dilation >= 1 && s.pad >= 0, "bad stride ", s.stride, ", dilation ",
              s.dilation, " or pad ", s.pad);
  if (!req.ok) return false;
  // Every size is now at least 1: the products below cannot go negative.
  for (int64_t v : {s.N, s.H, s.W, s.Ci, s.Co, s.kh, s.kw, s.stride, s.pad, s.dilation})
    req.require(v <= kMaxElements, "sizes must fit in int32, not ", v);
  if (!req.ok) return false;
  const int64_t ho = conv2d_out_h(s), wo = conv2d_out_w(s);
  req.require(ho >= 1 && wo >= 1, "a ", s.kh, "x", s.kw, " kernel with dilation ", s.dilation,
              " and pad ", s.pad, " does not fit a ", s.H, "x", s.W, " input");
  if (!req.ok) return false;
  const int64_t cw = conv2d_weight_channels(s);
  auto fits = [](int64_t a, int64_t b, int64_t c, int64_t d) {
    return a <= kMaxElements / b && a * b <= kMaxElements / c && a * b * c <= kMaxElements / d;
  };
  req.require(fits(s.N, s.H, s.W, cw) && fits(s.N, ho, wo, s.Co) && fits(s.Co, s.kh, s.kw, cw),
              "x, weight or out has 2^31 elements or more");
  return req.ok;
}

bool can_implement(const ConvShape& s, const ConvArgs& a, std::string* why) {
  if (!can_implement(s, why)) return false;
  Requirements req{why};
  req.require(a.x && a.weight && a.bias && a.out, "null x, weight, bias or out");
  req.require(s.epilogue.residual == (a.residual != nullptr),
              s.epilogue.residual ? "the shape adds a residual but none was given"
                             : "a residual was given but the shape has none");
  if (!req.ok) return false;
  req.require(is_aligned(a.x, kAlignment) && is_aligned(a.weight, kAlignment) &&
                  is_aligned(a.bias, kAlignment) && is_aligned(a.out, kAlignment) &&
                  is_aligned(a.residual, kAlignment),
              "x, weight, bias, residual and out must be ", kAlignment, "-byte aligned");
  const uint64_t es = dtype_size(s.dtype);
  const uint64_t out_bytes = uint64_t(s.N * conv2d_out_h(s) * conv2d_out_w(s) * s.Co) * es;
  req.require(!overlaps(a.out, out_bytes, a.x, uint64_t(s.N * s.H * s.W * s.Ci) * es) &&
                  !overlaps(a.out, out_bytes, a.weight, conv2d_weight_bytes(s)),
              "out overlaps x or weight");
  req.require(!overlaps(a.out, out_bytes, a.bias, uint64_t(s.Co) * es), "out overlaps bias");
  req.require(!a.residual || !overlaps(a.out, out_bytes, a.residual, out_bytes), "out overlaps residual");
  return req.ok;
}

bool can_implement(const ConvPlan& plan, const ConvArgs& a, std::string* why) {
  Requirements req{why};
  req.require(plan.valid(), "empty convolution plan");
  if (!req.ok || !can_implement(plan.shape(), a, why)) return false;
  require_workspace(req, a.workspace, a.workspace_bytes, plan.workspace_bytes(), kWorkspaceAlignment);
  return req.ok;
}

// ---- handle, weight preparation and run ------------------------------------------------

CudnnHandle::CudnnHandle() {
  cudnnHandle_t h = nullptr;
  const cudnnStatus_t status = cudnnCreate(&h);
  if (status != CUDNN_STATUS_SUCCESS)
    fail(StatusCode::device_error, "cudnnCreate failed: ", describe(status));
  handle_ = h;
}

CudnnHandle::~CudnnHandle() {
  if (handle_) cudnnDestroy(static_cast<cudnnHandle_t>(handle_));
}

void conv2d_prepare_weight(const ConvShape& s, const void* weight, void* prepared, void* stream) {
  std::string why;
  if (!can_implement(s, &why)) fail(StatusCode::unsupported, "conv2d_prepare_weight: ", why);
  const size_t in_bytes = size_t(s.Co * s.kh * s.kw * s.Ci) * dtype_size(s.dtype);
  if (!weight || !prepared || !is_aligned(prepared, kAlignment) ||
      overlaps(prepared, conv2d_weight_bytes(s), weight, in_bytes))
    fail(StatusCode::unsupported, "conv2d_prepare_weight: null, misaligned or overlapping buffers");
  pad_channels(s.dtype, weight, prepared, s.Co * s.kh * s.kw, s.Ci, conv2d_weight_channels(s),
               as_stream(stream));
}

void conv2d_cudnn(const ConvPlan& plan, const ConvArgs& a) {
  std::string why;
  if (!can_implement(plan, a, &why)) fail(StatusCode::unsupported, "conv2d_cudnn: ", why);
  const ConvShape& s = plan.shape();
  const ConvPlan::Impl& impl = *plan.impl_;
  const cudaStream_t stream = as_stream(a.stream);
  check_cudnn(cudnnSetStream(impl.handle, stream), "cudnnSetStream");
  void* x = const_cast<void*>(a.x);
  char* workspace = static_cast<char*>(a.workspace);
  if (impl.input_bytes > 0) {
    pad_channels(s.dtype, a.x, workspace, s.N * s.H * s.W, s.Ci, conv2d_weight_channels(s), stream);
    x = workspace;
  }
  std::vector<int64_t> uids = {kX, kW, kY};
  std::vector<void*> pointers = {x, const_cast<void*>(a.weight), a.out};
  if (plan.fused()) {
    uids.push_back(kBias);
    pointers.push_back(const_cast<void*>(a.bias));
    if (impl.residual_in_graph) {
      uids.push_back(kResidual);
      pointers.push_back(const_cast<void*>(a.residual));
    }
  }
  // A small host descriptor per run: the only way to hand cuDNN this run's pointers.
  DescPtr pack = make_desc(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  void* cudnn_workspace = impl.cudnn_workspace > 0 ? workspace + impl.input_bytes : nullptr;
  set(pack.get(), CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &cudnn_workspace,
      "set VARIANT_PACK_WORKSPACE");
  set(pack.get(), CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, int64_t(pointers.size()),
      pointers.data(), "set VARIANT_PACK_DATA_POINTERS");
  set(pack.get(), CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, int64_t(uids.size()),
      uids.data(), "set VARIANT_PACK_UNIQUE_IDS");
  check_cudnn(cudnnBackendFinalize(pack.get()), "finalising the variant pack");
  check_cudnn(cudnnBackendExecute(impl.handle, impl.plan, pack.get()), "conv2d_cudnn cudnnBackendExecute");
  if (!plan.fused()) epilogue(s, a, stream);
}

}  // namespace visionrt::kernels
