// The CUDA backend's kernel table: for each graph op, an adapter from the
// executor's arguments to one launcher under kernels/ (each with its own
// can_implement check), or null where the GPU has no kernel yet.
#include <cuda_runtime.h>

#include "backends/cuda/cuda_context.hpp"
#include "core/error.hpp"
#include "kernels/cast.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/embed_tokens.hpp"
#include "kernels/expand.hpp"
#include "kernels/layer_norm.hpp"
#include "kernels/mha_flash_tiled.hpp"
#include "kernels/resample_position.hpp"
#include "kernels/select_token.hpp"

namespace visionrt::cuda {
namespace {

using graph::Activation;
using graph::Op;
using kernels::DataType;

// cuBLASLt's scratch for every linear layer: 32 MiB lets Hopper use any
// algorithm, and the memory plan holds one such block for the whole graph.
constexpr size_t kGemmWorkspace = size_t(32) << 20;

CudaContext& context_of(const KernelArgs& a) { return *static_cast<CudaContext*>(a.context); }

// ---- ViT's embedding ----------------------------------------------------------

kernels::PatchEmbedParams patch_params(const Shape& x, const Shape& w, DType dtype, int patch) {
  kernels::PatchEmbedParams p;
  p.dtype = data_type_of(dtype);
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

void embed_tokens(const KernelArgs& a) {
  kernels::EmbedTokensParams p;
  p.dtype = data_type_of(a.out.dtype());
  p.batch = a.in[0]->dim(0);
  p.tokens = a.in[0]->dim(1);
  p.dim = a.in[0]->dim(2);
  p.input = a.in[0]->data();
  p.cls = a.in[1]->data();
  p.pos = a.in[2]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  kernels::embed_tokens(p);
}

void resample_position(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  kernels::ResamplePositionParams p;
  p.dtype = data_type_of(a.out.dtype());
  p.in_h = at.in_h;
  p.in_w = at.in_w;
  p.out_h = at.out_h;
  p.out_w = at.out_w;
  p.dim = a.in[0]->dim(-1);
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  kernels::resample_position(p);
}

// ---- the transformer -------------------------------------------------------------

void layer_norm(const KernelArgs& a) {
  kernels::LayerNormParams p;
  p.dtype = data_type_of(a.out.dtype());
  p.cols = a.in[0]->dim(-1);
  p.rows = a.in[0]->numel() / p.cols;
  p.input = a.in[0]->data();
  p.gamma = a.in[1]->data();
  p.beta = a.in[2]->data();
  p.output = a.out.data();
  p.eps = a.node->attrs.eps;
  p.stream = a.stream;
  kernels::layer_norm(p);
}

kernels::GemmShape gemm_shape(const Shape& x, const Shape& w, DType dtype, const graph::Attrs& at, bool residual,
                              bool tf32) {
  kernels::GemmShape s;
  s.dtype = data_type_of(dtype);
  s.tf32 = tf32 && dtype == DType::f32;
  s.K = x.back();
  s.M = shape_numel(x) / s.K;
  s.N = w[0];
  s.epilogue = at.act == Activation::relu        ? kernels::GemmEpilogue::relu
               : at.act == Activation::gelu_tanh ? kernels::GemmEpilogue::gelu_tanh
                                                 : kernels::GemmEpilogue::none;
  s.has_bias = true;
  s.has_residual = residual;
  return s;
}

size_t linear_workspace(const NodeSignature&, int) { return kGemmWorkspace; }

// The algorithm is chosen once, when the executor is planned.
void* linear_prepare(const NodeSignature& sig) {
  const CudaContext& c = *static_cast<const CudaContext*>(sig.backend->context());
  // The residual, when fused, is the fourth input.
  const kernels::GemmShape shape = gemm_shape(*sig.in_shapes[0], *sig.in_shapes[1], sig.out_dtype, sig.node->attrs,
                                              sig.in_shapes.size() > 3, c.tf32);
  return new kernels::GemmPlan(kernels::GemmPlan::create(shape, kGemmWorkspace, c.lt.get()));
}

void linear_release(void* state) noexcept { delete static_cast<kernels::GemmPlan*>(state); }

void linear(const KernelArgs& a) {
  kernels::GemmArgs g;
  g.x = a.in[0]->data();
  g.w = a.in[1]->data();
  g.bias = a.in[2]->data();
  g.residual = a.num_inputs > 3 && a.in[3] ? a.in[3]->data() : nullptr;
  g.out = a.out.data();
  g.workspace = a.workspace;
  g.workspace_bytes = a.workspace_bytes;
  g.stream = a.stream;
  kernels::gemm_lt(*static_cast<const kernels::GemmPlan*>(a.state), g);
}

void attention(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  kernels::AttentionParams p;
  p.dtype = data_type_of(a.out.dtype());
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
  kernels::mha_flash_tiled(p);
}

// ---- element-wise and data movement ------------------------------------------------

// activation (exact-erf GELU; cuBLASLt fuses the others) and add share one
// kernel: out = act(x + bias) + residual with the parts absent.
void activation(const KernelArgs& a) {
  kernels::BiasActivationParams p;
  p.dtype = data_type_of(a.out.dtype());
  p.cols = a.out.dim(-1);
  p.rows = a.out.numel() / p.cols;
  p.input = a.in[0]->data();
  p.activation = a.node->attrs.act == Activation::gelu_erf ? kernels::Activation::gelu_erf : kernels::Activation::none;
  p.output = a.out.data();
  p.stream = a.stream;
  kernels::bias_activation(p);
}

void add(const KernelArgs& a) {
  kernels::BiasActivationParams p;
  p.dtype = data_type_of(a.out.dtype());
  p.cols = a.out.dim(-1);
  p.rows = a.out.numel() / p.cols;
  p.input = a.in[0]->data();
  p.residual = a.in[1]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  kernels::bias_activation(p);
}

void select_token(const KernelArgs& a) {
  kernels::SelectTokenParams p;
  p.dtype = data_type_of(a.out.dtype());
  p.batch = a.in[0]->dim(0);
  p.tokens = a.in[0]->dim(1);
  p.dim = a.in[0]->dim(2);
  p.index = a.node->attrs.index;
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  kernels::select_token(p);
}

void copy(const KernelArgs& a) {
  check(cudaMemcpyAsync(a.out.data(), a.in[0]->data(), a.out.nbytes(), cudaMemcpyDeviceToDevice,
                        static_cast<cudaStream_t>(a.stream)),
        "copy on the GPU");
}

void cast(const KernelArgs& a) {
  kernels::CastParams p;
  p.from = data_type_of(a.in[0]->dtype());
  p.to = data_type_of(a.out.dtype());
  p.count = a.out.numel();
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  kernels::cast(p);
}

void expand(const KernelArgs& a) {
  kernels::ExpandParams p;
  p.bytes = static_cast<int64_t>(a.in[0]->nbytes());
  p.count = a.out.dim(0);
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  kernels::expand(p);
}

void zeros_like(const KernelArgs& a) {
  check(cudaMemsetAsync(a.out.data(), 0, a.out.nbytes(), static_cast<cudaStream_t>(a.stream)), "zeroing on the GPU");
}

const Kernel kPatchEmbed{patch_embed, patch_embed_workspace};
const Kernel kEmbedTokens{embed_tokens};
const Kernel kLayerNorm{layer_norm};
const Kernel kLinear{linear, linear_workspace, linear_prepare, linear_release};
const Kernel kAttention{attention};
const Kernel kActivation{activation};
const Kernel kAdd{add};
const Kernel kSelectToken{select_token};
const Kernel kCopy{copy};
const Kernel kCast{cast};
const Kernel kExpand{expand};
const Kernel kZerosLike{zeros_like};
const Kernel kResamplePosition{resample_position};

bool is_float(DType t) { return t == DType::f32 || t == DType::f16 || t == DType::bf16; }

}  // namespace

bool cuda_accepts_epilogue(const graph::Epilogue& e) {
  // Convolutions: ReLU and a residual in either order (cuDNN fuses the
  // residual-first one; the other gets an epilogue kernel).
  if (e.op == Op::conv2d) return e.act == Activation::none || e.act == Activation::relu;
  // cuBLASLt computes act(x W + bias + C): a residual joins before the
  // activation, and its activations are ReLU and the tanh GELU. The exact
  // erf GELU runs as its own kernel.
  if (e.op != Op::linear) return false;
  if (e.act == Activation::gelu_erf || e.act == Activation::sigmoid) return false;
  return !(e.residual && e.act != Activation::none && e.order != graph::EpilogueOrder::residual_then_act);
}

const Kernel* cuda_kernel(const NodeSignature& sig) {
  for (DType t : sig.in_dtypes)
    if (!is_float(t)) return nullptr;
  if (!is_float(sig.out_dtype)) return nullptr;
  const graph::Attrs& at = sig.node->attrs;
  switch (sig.node->op) {
    case Op::patch_embed: return &kPatchEmbed;
    case Op::embed_tokens: return &kEmbedTokens;
    case Op::layer_norm: return &kLayerNorm;
    case Op::linear: return &kLinear;
    case Op::attention: {
      const int head_dim = at.heads ? at.dim / at.heads : 0;
      const bool supported = head_dim == 32 || head_dim == 64 || head_dim == 80 || head_dim == 128;
      return supported ? &kAttention : nullptr;
    }
    case Op::activation:
      return at.act == Activation::gelu_erf || at.act == Activation::none ? &kActivation : nullptr;
    case Op::add: return &kAdd;
    case Op::select_token: return &kSelectToken;
    case Op::flatten_spatial: return &kCopy;
    case Op::cast: return &kCast;
    case Op::expand: return &kExpand;
    case Op::zeros_like: return &kZerosLike;
    case Op::resample_position: return &kResamplePosition;
    case Op::nchw_to_nhwc:
    case Op::conv2d:
    case Op::max_pool:
    case Op::mask_resize:
    case Op::sine_position: return cuda_detr_kernel(sig);
    case Op::count_: break;
  }
  return nullptr;
}

}  // namespace visionrt::cuda
