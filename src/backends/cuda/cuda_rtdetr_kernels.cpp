// The CUDA backend's kernels for the ops the real-time DETRs add: the
// ResNet-vd shortcut's average pool, the hybrid encoder's upsampling, joins
// and fixed positions, the two-stage query selection's anchors, masking and
// top-k gather, and the decoder's inverse sigmoid; and D-FINE's zero pad
// and affine clamp. Each adapter builds its
// launcher's parameters in one function, used to run and, at plan time, to
// ask the launcher's can_implement (checked_kernel).
#include "backends/cuda/cuda_context.hpp"
#include "kernels/affine.hpp"
#include "kernels/anchor_boxes.hpp"
#include "kernels/avg_pool.hpp"
#include "kernels/concat.hpp"
#include "kernels/gather_top_k.hpp"
#include "kernels/grid_sincos_position.hpp"
#include "kernels/inverse_sigmoid.hpp"
#include "kernels/mask_invalid_anchors.hpp"
#include "kernels/pad_spatial.hpp"
#include "kernels/upsample_nearest.hpp"

namespace visionrt::cuda {
namespace {

using graph::Op;

kernels::AvgPoolParams avg_pool_params(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  kernels::AvgPoolParams p;
  p.dtype = a.out.dtype();
  p.batch = a.in[0]->dim(0);
  p.height = a.in[0]->dim(1);
  p.width = a.in[0]->dim(2);
  p.channels = a.in[0]->dim(3);
  p.kernel = at.kernel;
  p.stride = at.stride;
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void avg_pool(const KernelArgs& a) { kernels::avg_pool(avg_pool_params(a)); }

kernels::UpsampleNearestParams upsample_nearest_params(const KernelArgs& a) {
  kernels::UpsampleNearestParams p;
  p.dtype = a.out.dtype();
  p.batch = a.in[0]->dim(0);
  p.height = a.in[0]->dim(1);
  p.width = a.in[0]->dim(2);
  p.channels = a.in[0]->dim(3);
  p.factor = a.node->attrs.stride;
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void upsample_nearest(const KernelArgs& a) { kernels::upsample_nearest(upsample_nearest_params(a)); }

kernels::ConcatParams concat_params(const KernelArgs& a) {
  const Tensor &x = *a.in[0], &y = *a.in[1];
  int64_t outer = 1;
  for (int d = 0; d < a.node->attrs.axis; ++d) outer *= x.dim(d);
  kernels::ConcatParams p;
  p.dtype = a.out.dtype();
  p.outer = outer;
  p.a_inner = outer > 0 ? x.numel() / outer : 0;
  p.b_inner = outer > 0 ? y.numel() / outer : 0;
  p.a = x.data();
  p.b = y.data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void concat(const KernelArgs& a) { kernels::concat(concat_params(a)); }

kernels::GridSincosPositionParams grid_sincos_position_params(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  kernels::GridSincosPositionParams p;
  p.dtype = a.out.dtype();
  p.batch = a.out.dim(0);
  p.height = at.out_h;
  p.width = at.out_w;
  p.dim = a.out.dim(2);
  p.temperature = at.temperature;
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void grid_sincos_position(const KernelArgs& a) { kernels::grid_sincos_position(grid_sincos_position_params(a)); }

static_assert(kernels::kMaxAnchorLevels == graph::kMaxLevels, "the kernel holds every level the op may have");

kernels::AnchorBoxesParams anchor_boxes_params(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  kernels::AnchorBoxesParams p;
  p.dtype = a.out.dtype();
  p.batch = a.out.dim(0);
  p.levels = at.levels;
  for (int l = 0; l < at.levels && l < graph::kMaxLevels; ++l) {
    p.level_h[l] = at.level_h[l];
    p.level_w[l] = at.level_w[l];
  }
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void anchor_boxes(const KernelArgs& a) { kernels::anchor_boxes(anchor_boxes_params(a)); }

kernels::MaskInvalidAnchorsParams mask_invalid_anchors_params(const KernelArgs& a) {
  kernels::MaskInvalidAnchorsParams p;
  p.dtype = a.out.dtype();
  p.dim = a.in[0]->dim(-1);
  p.rows = p.dim > 0 ? a.in[0]->numel() / p.dim : 0;
  p.input = a.in[0]->data();
  p.anchors = a.in[1]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void mask_invalid_anchors(const KernelArgs& a) { kernels::mask_invalid_anchors(mask_invalid_anchors_params(a)); }

// The shape part of the top-k gather's parameters, which its workspace rule
// needs before any memory exists.
kernels::GatherTopKParams gather_top_k_shape(const Shape& x, const Shape& scores, DType dtype, int count) {
  kernels::GatherTopKParams p;
  p.dtype = dtype;
  p.batch = x[0];
  p.rows = x[1];
  p.width = x[2];
  p.score_cols = scores[2];
  p.count = count;
  return p;
}

size_t gather_top_k_workspace(const NodeSignature& sig, int) {
  return kernels::gather_top_k_workspace_bytes(
      gather_top_k_shape(*sig.in_shapes[0], *sig.in_shapes[1], sig.out_dtype, sig.node->attrs.count));
}

kernels::GatherTopKParams gather_top_k_params(const KernelArgs& a) {
  kernels::GatherTopKParams p =
      gather_top_k_shape(a.in[0]->shape(), a.in[1]->shape(), a.out.dtype(), a.node->attrs.count);
  p.input = a.in[0]->data();
  p.scores = a.in[1]->data();
  p.output = a.out.data();
  p.workspace = a.workspace;
  p.workspace_bytes = a.workspace_bytes;
  p.stream = a.stream;
  return p;
}

void gather_top_k(const KernelArgs& a) { kernels::gather_top_k(gather_top_k_params(a)); }

kernels::InverseSigmoidParams inverse_sigmoid_params(const KernelArgs& a) {
  kernels::InverseSigmoidParams p;
  p.dtype = a.out.dtype();
  p.count = a.out.numel();
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void inverse_sigmoid(const KernelArgs& a) { kernels::inverse_sigmoid(inverse_sigmoid_params(a)); }

kernels::PadSpatialParams pad_spatial_params(const KernelArgs& a) {
  kernels::PadSpatialParams p;
  p.dtype = a.out.dtype();
  p.batch = a.in[0]->dim(0);
  p.height = a.in[0]->dim(1);
  p.width = a.in[0]->dim(2);
  p.channels = a.in[0]->dim(3);
  p.before = a.node->attrs.pad;
  p.after = a.node->attrs.pad_end;
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void pad_spatial(const KernelArgs& a) { kernels::pad_spatial(pad_spatial_params(a)); }

kernels::AffineParams affine_params(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  kernels::AffineParams p;
  p.dtype = a.out.dtype();
  p.count = a.out.numel();
  p.scale = at.scale;
  p.shift = at.shift;
  p.lo = at.lo;
  p.hi = at.hi;
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void affine(const KernelArgs& a) { kernels::affine(affine_params(a)); }

}  // namespace

std::vector<OpKernel> cuda_rtdetr_kernels() {
  return {
      {Op::avg_pool, checked_kernel<avg_pool_params>(avg_pool)},
      {Op::upsample_nearest, checked_kernel<upsample_nearest_params>(upsample_nearest)},
      {Op::concat, checked_kernel<concat_params>(concat)},
      {Op::grid_sincos_position, checked_kernel<grid_sincos_position_params>(grid_sincos_position)},
      {Op::anchor_boxes, checked_kernel<anchor_boxes_params>(anchor_boxes)},
      {Op::mask_invalid_anchors, checked_kernel<mask_invalid_anchors_params>(mask_invalid_anchors)},
      {Op::gather_top_k, checked_kernel<gather_top_k_params, gather_top_k_workspace>(gather_top_k)},
      {Op::inverse_sigmoid, checked_kernel<inverse_sigmoid_params>(inverse_sigmoid)},
      {Op::pad_spatial, checked_kernel<pad_spatial_params>(pad_spatial)},
      {Op::affine, checked_kernel<affine_params>(affine)},
  };
}

}  // namespace visionrt::cuda
