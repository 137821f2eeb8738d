// The CUDA backend's kernel table: for each graph op, an adapter from the
// executor's arguments to one launcher under kernels/ (each with its own
// can_implement check), or null where the GPU has no kernel yet.
#include <cuda_runtime.h>

#include <memory>

#include "backends/cuda/cuda_context.hpp"
#include "core/error.hpp"
#include "kernels/cast.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/embed_tokens.hpp"
#include "kernels/expand.hpp"
#include "kernels/layer_norm.hpp"
#include "kernels/mha_flash_tiled.hpp"
#include "kernels/resample_position.hpp"
#include "kernels/mean_tokens.hpp"
#include "kernels/select_token.hpp"
#include "kernels/slice_tokens.hpp"

namespace visionrt::cuda {
namespace {

using graph::Op;

// cuBLASLt's scratch for every linear layer: 32 MiB lets Hopper use any
// algorithm, and the memory plan holds one such block for the whole graph.
constexpr size_t kGemmWorkspace = size_t(32) << 20;

CudaContext& context_of(const KernelArgs& a) { return *static_cast<CudaContext*>(a.context); }

// ---- ViT's embedding ----------------------------------------------------------

kernels::PatchEmbedParams patch_params(const Shape& x, const Shape& w, DType dtype, int patch) {
  kernels::PatchEmbedParams p;
  p.dtype = dtype;
  p.batch = static_cast<int>(x[0]);
  p.channels = static_cast<int>(x[1]);
  p.height = static_cast<int>(x[2]);
  p.width = static_cast<int>(x[3]);
  p.patch = patch;
  p.embed_dim = static_cast<int>(w[0]);
  return p;
}

size_t patch_embed_workspace(const NodeSignature& sig, int) {
  return kernels::patch_embed_workspace_bytes(
      patch_params(*sig.in_shapes[0], *sig.in_shapes[1], sig.out_dtype, sig.node->attrs.patch));
}

void patch_embed(const KernelArgs& a) {
  kernels::PatchEmbedParams p = patch_params(a.in[0]->shape(), a.in[1]->shape(), a.out.dtype(), a.node->attrs.patch);
  p.pixels = a.in[0]->data();
  p.weight = a.in[1]->data();
  p.bias = a.in[2]->data();
  p.output = a.out.data();
  p.workspace = a.workspace;
  p.workspace_bytes = a.workspace_bytes;
  p.blas_handle = context_of(a).blas.get();
  p.stream = a.stream;
  kernels::patch_embed(p);
}

kernels::EmbedTokensParams embed_tokens_params(const KernelArgs& a) {
  kernels::EmbedTokensParams p;
  p.dtype = a.out.dtype();
  p.batch = a.in[0]->dim(0);
  p.tokens = a.in[0]->dim(1);
  p.dim = a.in[0]->dim(2);
  p.prefix_rows = a.in[2] ? a.in[2]->dim(1) : 0;
  p.input = a.in[0]->data();
  p.prefix = a.in[2] ? a.in[2]->data() : nullptr;
  p.pos = a.in[1]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void embed_tokens(const KernelArgs& a) { kernels::embed_tokens(embed_tokens_params(a)); }

kernels::ResamplePositionParams resample_position_params(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  kernels::ResamplePositionParams p;
  p.dtype = a.out.dtype();
  p.in_h = at.in_h;
  p.in_w = at.in_w;
  p.out_h = at.out_h;
  p.out_w = at.out_w;
  p.antialias = at.antialias;
  p.dim = a.in[0]->dim(-1);
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void resample_position(const KernelArgs& a) { kernels::resample_position(resample_position_params(a)); }

// ---- the transformer -------------------------------------------------------------

kernels::LayerNormParams layer_norm_params(const KernelArgs& a) {
  kernels::LayerNormParams p;
  p.dtype = a.out.dtype();
  p.cols = a.in[0]->dim(-1);
  p.rows = a.in[0]->numel() / p.cols;
  p.input = a.in[0]->data();
  p.gamma = a.in[1]->data();
  p.beta = a.in[2]->data();
  p.output = a.out.data();
  p.eps = a.node->attrs.eps;
  p.stream = a.stream;
  return p;
}

void layer_norm(const KernelArgs& a) { kernels::layer_norm(layer_norm_params(a)); }

// Whether cuBLASLt's own epilogue runs all of `e` (the launcher's check).
bool gemm_runs_whole(const Epilogue& e) {
  kernels::GemmShape s;
  s.M = s.N = s.K = 1;
  s.epilogue = e;
  return kernels::can_implement(s, nullptr);
}

kernels::GemmShape gemm_shape(const Shape& x, const Shape& w, DType dtype, const LinearEpilogue& e, bool tf32) {
  kernels::GemmShape s;
  s.dtype = dtype;
  s.tf32 = tf32 && dtype == DType::f32;
  s.K = x.back();
  s.M = shape_numel(x) / s.K;
  s.N = w[0];
  s.epilogue = e.gemm;
  s.has_bias = true;
  return s;
}

size_t linear_workspace(const NodeSignature&, int) { return kGemmWorkspace; }

struct LinearState {
  kernels::GemmPlan plan;
  LinearEpilogue epilogue;
};

// The algorithm is chosen once, when the executor is planned.
void* linear_prepare(const NodeSignature& sig) {
  const CudaContext& c = *static_cast<const CudaContext*>(sig.backend->context());
  // The residual, when fused, is the fourth input.
  auto state = std::make_unique<LinearState>();
  Epilogue e = sig.node->attrs.epilogue;
  e.residual = sig.in_shapes.size() > 3;
  state->epilogue = split_linear_epilogue(e);
  const kernels::GemmShape shape =
      gemm_shape(*sig.in_shapes[0], *sig.in_shapes[1], sig.out_dtype, state->epilogue, c.precision.tf32);
  state->plan = kernels::GemmPlan::create(shape, kGemmWorkspace, c.lt.get());
  return state.release();
}

void linear_release(void* state) noexcept { delete static_cast<LinearState*>(state); }

void linear(const KernelArgs& a) {
  const LinearState& state = *static_cast<const LinearState*>(a.state);
  const void* residual = a.num_inputs > 3 && a.in[3] ? a.in[3]->data() : nullptr;
  kernels::GemmArgs g;
  g.x = a.in[0]->data();
  g.w = a.in[1]->data();
  g.bias = a.in[2]->data();
  g.residual = state.epilogue.gemm.residual ? residual : nullptr;
  g.out = a.out.data();
  g.workspace = a.workspace;
  g.workspace_bytes = a.workspace_bytes;
  g.stream = a.stream;
  kernels::gemm_lt(state.plan, g);
  if (!state.epilogue.elementwise) return;
  kernels::BiasActivationParams p;
  p.dtype = a.out.dtype();
  p.cols = a.out.dim(-1);
  p.rows = a.out.numel() / p.cols;
  p.input = a.out.data();
  p.epilogue = state.epilogue.after;
  p.residual = state.epilogue.after.residual ? residual : nullptr;
  p.output = a.out.data();
  p.stream = a.stream;
  kernels::bias_activation(p);
}

kernels::AttentionParams attention_params(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  kernels::AttentionParams p;
  p.dtype = a.out.dtype();
  p.batch = static_cast<int>(a.in[0]->dim(0));
  p.heads = at.heads;
  p.head_dim = at.dim / at.heads;
  p.q_len = static_cast<int>(a.in[0]->dim(1));
  p.kv_len = static_cast<int>(a.in[1]->dim(1));
  p.q = a.in[0]->data();
  p.k = a.in[1]->data();
  p.v = a.in[2]->data();
  p.out = a.out.data();
  p.q_row_stride = a.in[0]->dim(-1);
  p.k_row_stride = a.in[1]->dim(-1);
  p.v_row_stride = a.in[2]->dim(-1);
  p.out_row_stride = at.dim;
  p.q_col_offset = at.q_offset;
  p.k_col_offset = at.k_offset;
  p.v_col_offset = at.v_offset;
  p.key_mask = a.num_inputs > 3 && a.in[3] ? a.in[3]->f32() : nullptr;
  p.stream = a.stream;
  return p;
}

void attention(const KernelArgs& a) { kernels::mha_flash_tiled(attention_params(a)); }

// ---- element-wise and data movement ------------------------------------------------

// activation and add share one kernel: out = act(x + bias) + residual with
// the parts absent.
kernels::BiasActivationParams activation_params(const KernelArgs& a) {
  kernels::BiasActivationParams p;
  p.dtype = a.out.dtype();
  p.cols = a.out.dim(-1);
  p.rows = a.out.numel() / p.cols;
  p.input = a.in[0]->data();
  p.epilogue.act = a.node->attrs.epilogue.act;
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void activation(const KernelArgs& a) { kernels::bias_activation(activation_params(a)); }

kernels::BiasActivationParams add_params(const KernelArgs& a) {
  kernels::BiasActivationParams p;
  p.dtype = a.out.dtype();
  p.cols = a.out.dim(-1);
  p.rows = a.out.numel() / p.cols;
  p.input = a.in[0]->data();
  p.epilogue.residual = true;
  p.residual = a.in[1]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void add(const KernelArgs& a) { kernels::bias_activation(add_params(a)); }

kernels::SelectTokenParams select_token_params(const KernelArgs& a) {
  kernels::SelectTokenParams p;
  p.dtype = a.out.dtype();
  p.batch = a.in[0]->dim(0);
  p.tokens = a.in[0]->dim(1);
  p.dim = a.in[0]->dim(2);
  p.index = a.node->attrs.index;
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void select_token(const KernelArgs& a) { kernels::select_token(select_token_params(a)); }

kernels::MeanTokensParams mean_tokens_params(const KernelArgs& a) {
  kernels::MeanTokensParams p;
  p.dtype = a.out.dtype();
  p.batch = a.in[0]->dim(0);
  p.tokens = a.in[0]->dim(1);
  p.dim = a.in[0]->dim(2);
  p.first = a.node->attrs.index;
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void mean_tokens(const KernelArgs& a) { kernels::mean_tokens(mean_tokens_params(a)); }

kernels::SliceTokensParams slice_tokens_params(const KernelArgs& a) {
  kernels::SliceTokensParams p;
  p.dtype = a.out.dtype();
  p.batch = a.in[0]->dim(0);
  p.tokens = a.in[0]->dim(1);
  p.dim = a.in[0]->dim(2);
  p.first = a.node->attrs.index;
  p.count = a.node->attrs.count;
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void slice_tokens(const KernelArgs& a) { kernels::slice_tokens(slice_tokens_params(a)); }

void copy(const KernelArgs& a) {
  check(cudaMemcpyAsync(a.out.data(), a.in[0]->data(), a.out.nbytes(), cudaMemcpyDeviceToDevice,
                        static_cast<cudaStream_t>(a.stream)),
        "copy on the GPU");
}

kernels::CastParams cast_params(const KernelArgs& a) {
  kernels::CastParams p;
  p.from = a.in[0]->dtype();
  p.to = a.out.dtype();
  p.count = a.out.numel();
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void cast(const KernelArgs& a) { kernels::cast(cast_params(a)); }

kernels::ExpandParams expand_params(const KernelArgs& a) {
  kernels::ExpandParams p;
  p.bytes = static_cast<int64_t>(a.in[0]->nbytes());
  p.count = a.out.dim(0);
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void expand(const KernelArgs& a) { kernels::expand(expand_params(a)); }

void zeros_like(const KernelArgs& a) {
  check(cudaMemsetAsync(a.out.data(), 0, a.out.nbytes(), static_cast<cudaStream_t>(a.stream)), "zeroing on the GPU");
}

std::vector<OpKernel> vit_kernels() {
  return {
      {Op::patch_embed, {patch_embed, patch_embed_workspace}},
      {Op::embed_tokens, checked_kernel<embed_tokens_params>(embed_tokens)},
      {Op::layer_norm, checked_kernel<layer_norm_params>(layer_norm)},
      // cuBLASLt's plan, made in prepare, refuses what it cannot run.
      {Op::linear, {linear, linear_workspace, linear_prepare, linear_release}},
      {Op::attention, checked_kernel<attention_params>(attention)},
      {Op::activation, checked_kernel<activation_params>(activation)},
      {Op::add, checked_kernel<add_params>(add)},
      {Op::select_token, checked_kernel<select_token_params>(select_token)},
      {Op::mean_tokens, checked_kernel<mean_tokens_params>(mean_tokens)},
      {Op::slice_tokens, checked_kernel<slice_tokens_params>(slice_tokens)},
      {Op::flatten_spatial, {copy}},  // the same elements
      {Op::unflatten_spatial, {copy}},
      {Op::cast, checked_kernel<cast_params>(cast)},
      {Op::expand, checked_kernel<expand_params>(expand)},
      {Op::zeros_like, {zeros_like}},
      {Op::resample_position, checked_kernel<resample_position_params>(resample_position)},
  };
}

// This file's ops, the backbone's (cuda_detr_kernels.cpp), the real-time
// DETRs' (cuda_rtdetr_kernels.cpp) and D-FINE's decoder's
// (cuda_dfine_kernels.cpp) in one table.
const KernelTable& cuda_table() {
  static const KernelTable table = [] {
    std::vector<OpKernel> entries = vit_kernels();
    for (const OpKernel& e : cuda_detr_kernels()) entries.push_back(e);
    for (const OpKernel& e : cuda_rtdetr_kernels()) entries.push_back(e);
    for (const OpKernel& e : cuda_dfine_kernels()) entries.push_back(e);
    return KernelTable(entries);
  }();
  return table;
}

}  // namespace

PlannedArgs::PlannedArgs(const NodeSignature& sig, size_t workspace_bytes) {
  // Distinct addresses 1 GiB apart, so that no check sees two tensors alias.
  auto placeholder = [](size_t i) { return reinterpret_cast<void*>(uintptr_t(i + 1) << 30); };
  in.reserve(sig.in_shapes.size());
  for (size_t i = 0; i < sig.in_shapes.size(); ++i)
    in.push_back(Tensor::view(sig.in_dtypes[i], *sig.in_shapes[i], placeholder(i)));
  args.node = sig.node;
  args.num_inputs = static_cast<int>(in.size());
  for (size_t i = 0; i < in.size() && i < 4; ++i) args.in[i] = &in[i];
  args.out = Tensor::view(sig.out_dtype, sig.out_shape, placeholder(in.size()));
  if (workspace_bytes > 0) {
    args.workspace = placeholder(in.size() + 1);
    args.workspace_bytes = workspace_bytes;
  }
  args.context = sig.backend ? sig.backend->context() : nullptr;
}

LinearEpilogue split_linear_epilogue(const Epilogue& e) {
  LinearEpilogue split;
  if (gemm_runs_whole(e)) {
    split.gemm = e;
    return split;
  }
  split.gemm.residual = e.residual_first();
  split.elementwise = true;
  split.after.act = e.act;
  split.after.residual = e.residual && !e.residual_first();
  return split;
}

bool cuda_accepts_epilogue(Op op, const Epilogue& e) {
  // Convolutions: ReLU and a residual in either order (cuDNN fuses the
  // residual-first one; the other gets an epilogue kernel).
  if (op == Op::conv2d) return e.act == Activation::none || e.act == Activation::relu;
  // Linear: what cuBLASLt runs whole. Other epilogues would run as a second
  // kernel after the product (split_linear_epilogue) and gain nothing from
  // fusing.
  return op == Op::linear && gemm_runs_whole(e);
}

const Kernel* cuda_kernel(const NodeSignature& sig) {
  // Every kernel computes in the float dtypes; the precision pass gives a
  // node one of them throughout (masks stay F32).
  for (DType t : sig.in_dtypes)
    if (!is_float(t)) return nullptr;
  if (!is_float(sig.out_dtype)) return nullptr;
  // The table's conv2d is cuDNN's dense convolution.
  if (sig.node->op == Op::conv2d && sig.node->attrs.groups != 1) return &cuda_depthwise_conv2d_kernel();
  return cuda_table().find(sig.node->op);
}

}  // namespace visionrt::cuda
