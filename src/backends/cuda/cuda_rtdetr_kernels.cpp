// The CUDA backend's kernels for the ops the real-time DETRs add: the
// ResNet-vd shortcut's average pool, the hybrid encoder's upsampling and
// joins. Each adapter builds its
// launcher's parameters in one function, used to run and, at plan time, to
// ask the launcher's can_implement (checked_kernel).
#include "backends/cuda/cuda_context.hpp"
#include "kernels/avg_pool.hpp"
#include "kernels/concat.hpp"
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

}  // namespace

std::vector<OpKernel> cuda_rtdetr_kernels() {
  return {
      {Op::avg_pool, checked_kernel<avg_pool_params>(avg_pool)},
      {Op::upsample_nearest, checked_kernel<upsample_nearest_params>(upsample_nearest)},
      {Op::concat, checked_kernel<concat_params>(concat)},
  };
}

}  // namespace visionrt::cuda
