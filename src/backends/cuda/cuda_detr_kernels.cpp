// The CUDA backend's kernels for DETR's own ops: the ResNet backbone's
// convolutions through cuDNN (planned once per node, BatchNorm already
// folded into the weights, bias, residual and ReLU fused where cuDNN
// allows), max-pool, the layout change of the input, the padding mask's
// resize and the sine position encoding drawn from it, and the deformable
// attention of the DETRs that sample their maps; and the depthwise
// convolutions of D-FINE's HGNetV2 on a kernel of their own.
#include <cuda_runtime.h>

#include <memory>

#include "backends/cuda/cuda_context.hpp"
#include "core/error.hpp"
#include "kernels/conv2d_cudnn.hpp"
#include "kernels/depthwise_conv2d.hpp"
#include "kernels/mask_resize.hpp"
#include "kernels/max_pool.hpp"
#include "kernels/ms_deform_attn.hpp"
#include "kernels/nchw_to_nhwc.hpp"
#include "kernels/sine_position.hpp"

namespace visionrt::cuda {
namespace {

using graph::Op;

// cuDNN's scratch for a convolution beyond the stem's padded input copy:
// enough for the implicit-GEMM engines it prefers on Hopper.
constexpr size_t kConvScratch = size_t(64) << 20;

kernels::ConvShape conv_shape(const Shape& x, const Shape& w, DType dtype, const graph::Attrs& at, bool residual,
                              bool tf32) {
  kernels::ConvShape s;
  s.dtype = dtype;
  s.tf32 = tf32 && dtype == DType::f32;
  s.N = x[0];
  s.H = x[1];
  s.W = x[2];
  s.Ci = x[3];
  s.Co = w[0];
  s.kh = w[1];
  s.kw = w[2];
  s.stride = at.stride;
  s.pad = at.pad;
  s.dilation = at.dilation;
  s.epilogue = at.epilogue;
  s.epilogue.residual = residual;
  return s;
}

kernels::ConvShape conv_shape(const NodeSignature& sig, bool tf32) {
  return conv_shape(*sig.in_shapes[0], *sig.in_shapes[1], sig.out_dtype, sig.node->attrs, sig.in_shapes.size() > 3,
                    tf32);
}

// The padded input copy (the stem's Ci = 3) and cuDNN's own scratch.
size_t conv2d_workspace(const NodeSignature& sig, int) {
  const kernels::ConvShape s = conv_shape(sig, false);
  const int64_t padded_channels = kernels::conv2d_weight_channels(s);
  const size_t copy = padded_channels == s.Ci ? 0
                                               : static_cast<size_t>(s.N * s.H * s.W * padded_channels) *
                                                     dtype_size(sig.out_dtype);
  return (copy + 255) / 256 * 256 + kConvScratch;
}

// A plan, shared by every node of its shape (ConvPlanCache), and the weight
// in the layout it reads, made once per model: every input shape shares it.
struct ConvState {
  std::shared_ptr<const kernels::ConvPlan> plan;
  Tensor weight;
};

void* conv2d_prepare(const NodeSignature& sig) {
  CudaContext& c = *static_cast<CudaContext*>(sig.backend->context());
  const kernels::ConvShape shape = conv_shape(sig, c.precision.tf32);
  auto state = std::make_unique<ConvState>();
  state->plan = c.conv_plans.get(shape, conv2d_workspace(sig, 1), c.cudnn.get());
  const int64_t padded = kernels::conv2d_weight_channels(shape);
  state->weight = sig.weights->derived(
      sig.weight_ids[1], sig.in_dtypes[1], "cudnn_ci" + std::to_string(padded), [&](const Tensor& plain) {
        if (padded == shape.Ci) return plain;
        const size_t bytes = kernels::conv2d_weight_bytes(shape);
        void* device = sig.backend->allocate(bytes);
        std::shared_ptr<void> keeper(device, [](void* p) { cudaFree(p); });
        kernels::conv2d_prepare_weight(shape, plain.data(), device, c.stream);
        check(cudaStreamSynchronize(c.stream), "preparing a convolution's weight");
        return Tensor::view(plain.dtype(), {shape.Co, shape.kh, shape.kw, padded}, device, std::move(keeper));
      });
  return state.release();
}

void conv2d_release(void* state) noexcept { delete static_cast<ConvState*>(state); }

void conv2d(const KernelArgs& a) {
  const ConvState& state = *static_cast<const ConvState*>(a.state);
  kernels::ConvArgs c;
  c.x = a.in[0]->data();
  c.weight = state.weight.data();
  c.bias = a.in[2]->data();
  c.residual = a.num_inputs > 3 && a.in[3] ? a.in[3]->data() : nullptr;
  c.out = a.out.data();
  c.workspace = a.workspace;
  c.workspace_bytes = a.workspace_bytes;
  c.stream = a.stream;
  kernels::conv2d_cudnn(*state.plan, c);
}

kernels::MaxPoolParams max_pool_params(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  kernels::MaxPoolParams p;
  p.dtype = a.out.dtype();
  p.batch = a.in[0]->dim(0);
  p.height = a.in[0]->dim(1);
  p.width = a.in[0]->dim(2);
  p.channels = a.in[0]->dim(3);
  p.kernel = at.kernel;
  p.stride = at.stride;
  p.pad = at.pad;
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void max_pool(const KernelArgs& a) { kernels::max_pool(max_pool_params(a)); }

kernels::NchwToNhwcParams nchw_to_nhwc_params(const KernelArgs& a) {
  kernels::NchwToNhwcParams p;
  p.dtype = a.out.dtype();
  p.batch = a.in[0]->dim(0);
  p.channels = a.in[0]->dim(1);
  p.height = a.in[0]->dim(2);
  p.width = a.in[0]->dim(3);
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void nchw_to_nhwc(const KernelArgs& a) { kernels::nchw_to_nhwc(nchw_to_nhwc_params(a)); }

kernels::MaskResizeParams mask_resize_params(const KernelArgs& a) {
  kernels::MaskResizeParams p;
  p.batch = a.in[0]->dim(0);
  p.in_h = a.in[0]->dim(1);
  p.in_w = a.in[0]->dim(2);
  p.out_h = a.node->attrs.out_h;
  p.out_w = a.node->attrs.out_w;
  p.mask = a.in[0]->f32();
  p.output = a.out.f32();
  p.stream = a.stream;
  return p;
}

void mask_resize(const KernelArgs& a) { kernels::mask_resize(mask_resize_params(a)); }

kernels::SinePositionParams sine_position_params(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  kernels::SinePositionParams p;
  p.dtype = a.out.dtype();
  p.batch = static_cast<int>(a.in[0]->dim(0));
  p.height = at.out_h;
  p.width = at.out_w;
  p.num_pos_feats = at.dim / 2;
  p.mask = a.in[0]->f32();
  p.temperature = at.temperature;
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void sine_position(const KernelArgs& a) { kernels::sine_position(sine_position_params(a)); }

static_assert(kernels::kMaxDeformLevels == graph::kMaxLevels, "the kernel holds every level the op may have");

kernels::MsDeformAttnParams ms_deform_attn_params(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  kernels::MsDeformAttnParams p;
  p.dtype = a.out.dtype();
  p.batch = a.in[0]->dim(0);
  p.queries = a.in[1]->dim(1);
  p.heads = at.heads;
  p.head_dim = at.heads > 0 ? at.dim / at.heads : 0;
  p.levels = at.levels;
  for (int l = 0; l < at.levels && l < graph::kMaxLevels; ++l) {
    p.level_h[l] = at.level_h[l];
    p.level_w[l] = at.level_w[l];
    p.level_points[l] = at.level_points[l];
  }
  p.discrete = at.discrete;
  p.value = a.in[0]->data();
  p.locations = a.in[1]->data();
  p.weights = a.in[2]->data();
  // RT-DETR's form: offsets from reference boxes, weights as logits.
  p.boxes = a.num_inputs > 3 && a.in[3] ? a.in[3]->data() : nullptr;
  p.offset_scale = at.offset_scale;
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void ms_deform_attn(const KernelArgs& a) { kernels::ms_deform_attn(ms_deform_attn_params(a)); }

// The launcher's own check of the shape and epilogue (cuDNN's fusions and
// the epilogue kernel run ReLU only), before anything is prepared. Its
// graph describes a dense convolution: a grouped one goes to the depthwise
// kernel (cuda_kernel) and is refused here should it arrive.
bool conv2d_can_implement(const NodeSignature& sig, std::string* why) {
  if (sig.node->attrs.groups != 1) {
    if (why) *why = str_cat("conv2d_cudnn runs dense convolutions, not ", sig.node->attrs.groups, " groups");
    return false;
  }
  return kernels::can_implement(conv_shape(sig, false), why);
}

kernels::DepthwiseConv2dParams depthwise_conv2d_params(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  kernels::DepthwiseConv2dParams p;
  p.dtype = a.out.dtype();
  p.batch = a.in[0]->dim(0);
  p.height = a.in[0]->dim(1);
  p.width = a.in[0]->dim(2);
  p.channels = a.in[0]->dim(3);
  p.kernel_h = static_cast<int>(a.in[1]->dim(1));
  p.kernel_w = static_cast<int>(a.in[1]->dim(2));
  p.stride = at.stride;
  p.pad = at.pad;
  p.dilation = at.dilation;
  p.epilogue = at.epilogue;
  p.residual = a.num_inputs > 3 && a.in[3] ? a.in[3]->data() : nullptr;
  p.epilogue.residual = p.residual != nullptr;
  p.input = a.in[0]->data();
  p.weight = a.in[1]->data();  // [C, kh, kw, 1]: the launcher's [C, kh, kw]
  p.bias = a.in[2]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void depthwise_conv2d(const KernelArgs& a) { kernels::depthwise_conv2d(depthwise_conv2d_params(a)); }

// Depthwise only (groups == Ci == Co); other group counts are refused by name.
bool depthwise_conv2d_can_implement(const NodeSignature& sig, std::string* why) {
  const Shape &x = *sig.in_shapes[0], &w = *sig.in_shapes[1];
  const int groups = sig.node->attrs.groups;
  if (groups != x[3] || w[0] != x[3] || w[3] != 1) {
    if (why)
      *why = str_cat("conv2d with groups ", groups, " of ", x[3], " input and ", w[0],
                     " output channels: the GPU runs groups 1 and depthwise (groups == Ci == Co) only");
    return false;
  }
  return launcher_accepts<depthwise_conv2d_params>(sig, why);
}

}  // namespace

const Kernel& cuda_depthwise_conv2d_kernel() {
  static const Kernel k{depthwise_conv2d, nullptr, nullptr, nullptr, 0, depthwise_conv2d_can_implement};
  return k;
}

std::vector<OpKernel> cuda_detr_kernels() {
  return {
      {Op::conv2d, {conv2d, conv2d_workspace, conv2d_prepare, conv2d_release, 1u << 1, conv2d_can_implement}},
      {Op::max_pool, checked_kernel<max_pool_params>(max_pool)},
      {Op::nchw_to_nhwc, checked_kernel<nchw_to_nhwc_params>(nchw_to_nhwc)},
      {Op::mask_resize, checked_kernel<mask_resize_params>(mask_resize)},
      {Op::sine_position, checked_kernel<sine_position_params>(sine_position)},
      {Op::ms_deform_attn, checked_kernel<ms_deform_attn_params>(ms_deform_attn)},
  };
}

}  // namespace visionrt::cuda
