// The CUDA backend's kernels for the ops D-FINE's decoder adds: the gating
// product, the channel slice, and the readings of the per-side box
// distributions (the refinement's integral, the quality estimate's top
// probabilities). Each adapter builds its launcher's parameters in one
// function, used to run and, at plan time, to ask the launcher's
// can_implement (checked_kernel).
#include "backends/cuda/cuda_context.hpp"
#include "kernels/fdr_boxes.hpp"
#include "kernels/lqe_stat.hpp"
#include "kernels/mul.hpp"
#include "kernels/slice_last.hpp"

namespace visionrt::cuda {
namespace {

using graph::Op;

kernels::MulParams mul_params(const KernelArgs& a) {
  kernels::MulParams p;
  p.dtype = a.out.dtype();
  p.count = a.out.numel();
  p.a = a.in[0]->data();
  p.b = a.in[1]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void mul(const KernelArgs& a) { kernels::mul(mul_params(a)); }

kernels::SliceLastParams slice_last_params(const KernelArgs& a) {
  kernels::SliceLastParams p;
  p.dtype = a.out.dtype();
  p.cols = a.in[0]->dim(-1);
  p.rows = p.cols > 0 ? a.in[0]->numel() / p.cols : 0;
  p.offset = a.node->attrs.offset;
  p.width = a.node->attrs.width;
  p.input = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void slice_last(const KernelArgs& a) { kernels::slice_last(slice_last_params(a)); }

kernels::FdrBoxesParams fdr_boxes_params(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  kernels::FdrBoxesParams p;
  p.dtype = a.out.dtype();
  p.rows = a.out.numel() / 4;
  p.bins = at.bins;
  p.up = at.up;
  p.reg_scale = at.reg_scale;
  p.corners = a.in[0]->data();
  p.boxes = a.in[1]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void fdr_boxes(const KernelArgs& a) { kernels::fdr_boxes(fdr_boxes_params(a)); }

kernels::LqeStatParams lqe_stat_params(const KernelArgs& a) {
  const graph::Attrs& at = a.node->attrs;
  kernels::LqeStatParams p;
  p.dtype = a.out.dtype();
  p.rows = a.in[0]->dim(0) * a.in[0]->dim(1);
  p.bins = at.bins;
  p.count = at.count;
  p.corners = a.in[0]->data();
  p.output = a.out.data();
  p.stream = a.stream;
  return p;
}

void lqe_stat(const KernelArgs& a) { kernels::lqe_stat(lqe_stat_params(a)); }

}  // namespace

std::vector<OpKernel> cuda_dfine_kernels() {
  return {
      {Op::mul, checked_kernel<mul_params>(mul)},
      {Op::slice_last, checked_kernel<slice_last_params>(slice_last)},
      {Op::fdr_boxes, checked_kernel<fdr_boxes_params>(fdr_boxes)},
      {Op::lqe_stat, checked_kernel<lqe_stat_params>(lqe_stat)},
  };
}

}  // namespace visionrt::cuda
