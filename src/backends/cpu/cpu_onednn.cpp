// linear and conv2d as oneDNN primitives (matmul, convolution), built once
// per node when an executor is planned: weights reordered once into the
// layout the primitive picks (shared by every node and shape that picks the
// same), bias in the primitive, activation and residual as post-ops in the
// node's epilogue order, scratch from the planned workspace. Running one is
// a handle update and one dnnl_primitive_execute. With BF16 operands the
// weights are reordered into BF16 once, the input is converted by a reorder
// into the workspace first, and the output, bias and epilogue stay F32.
#include "backends/cpu/cpu_onednn.hpp"

#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.hpp"
#include "core/thread_pool.hpp"
#include "graph/ops.hpp"

namespace visionrt::cpu {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

memory::desc f32_desc(const memory::dims& dims, Tag tag) { return memory::desc(dims, memory::data_type::f32, tag); }

memory::data_type data_type(DType t) { return t == DType::bf16 ? memory::data_type::bf16 : memory::data_type::f32; }

// Bias, then the node's activation and residual in its order.
dnnl::primitive_attr epilogue_attr(const Epilogue& e, bool residual, const memory::desc& dst) {
  dnnl::post_ops ops;
  auto eltwise = [&] {
    dnnl::algorithm alg = dnnl::algorithm::undef;
    float alpha = 0.f;
    switch (e.act) {
      case Activation::none: return;
      case Activation::relu: alg = dnnl::algorithm::eltwise_relu; break;
      case Activation::gelu_erf: alg = dnnl::algorithm::eltwise_gelu_erf; break;
      case Activation::gelu_tanh: alg = dnnl::algorithm::eltwise_gelu_tanh; break;
      case Activation::sigmoid: alg = dnnl::algorithm::eltwise_logistic; break;
      case Activation::silu:  // x * sigmoid(alpha * x)
        alg = dnnl::algorithm::eltwise_swish;
        alpha = 1.f;
        break;
    }
#if DNNL_VERSION_MAJOR >= 3
    ops.append_eltwise(alg, alpha, 0.f);
#else
    ops.append_eltwise(1.f, alg, alpha, 0.f);
#endif
  };
  const bool residual_first = residual && e.order == ResidualOrder::residual_then_act;
  if (residual_first) ops.append_binary(dnnl::algorithm::binary_add, dst);
  eltwise();
  if (residual && !residual_first) ops.append_binary(dnnl::algorithm::binary_add, dst);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// The primitive descriptor of a node: its shapes, with weights in whatever
// layout the implementation prefers.
// src_f32 is the input as the graph holds it; src what the primitive reads
// (the same, or its BF16 copy). Only prepare builds the primitive itself
// (its code is generated then); the workspace rule needs the descriptor alone.
struct Descs {
  memory::desc src_f32, src, wei, plain_wei, bias, dst;
  dnnl::primitive_desc_base pd;
};

Descs matmul_descs(const NodeSignature& sig, DType operands) {
  const Shape &x = *sig.in_shapes[0], &w = *sig.in_shapes[1];
  const int64_t K = x.back(), M = shape_numel(x) / K, N = w[0];
  Descs d;
  d.src_f32 = f32_desc({M, K}, Tag::ab);
  d.src = memory::desc({M, K}, data_type(operands), Tag::ab);
  d.plain_wei = f32_desc({K, N}, Tag::ba);  // stored [N, K], as PyTorch's Linear
  d.bias = f32_desc({1, N}, Tag::ab);
  d.dst = f32_desc({M, N}, Tag::ab);
  const dnnl::primitive_attr attr = epilogue_attr(sig.node->attrs.epilogue, sig.in_shapes.size() > 3, d.dst);
  const memory::desc any_wei({K, N}, data_type(operands), Tag::any);
#if DNNL_VERSION_MAJOR >= 3
  dnnl::matmul::primitive_desc pd(cpu_engine(), d.src, any_wei, d.bias, d.dst, attr);
#else
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(d.src, any_wei, d.bias, d.dst), attr, cpu_engine());
#endif
  d.wei = pd.weights_desc();
  d.pd = pd;
  return d;
}

Descs conv_descs(const NodeSignature& sig, DType operands) {
  const Shape &x = *sig.in_shapes[0], &w = *sig.in_shapes[1];
  const graph::Attrs& a = sig.node->attrs;
  // The descriptors below are a dense convolution's (no groups dimension);
  // the backend gives grouped ones to its depthwise kernel.
  if (a.groups != 1) fail(StatusCode::unsupported, "oneDNN's conv2d here is dense, not of ", a.groups, " groups");
  const Shape& y = sig.out_shape;
  Descs d;
  d.src_f32 = f32_desc({x[0], x[3], x[1], x[2]}, Tag::nhwc);
  d.src = memory::desc({x[0], x[3], x[1], x[2]}, data_type(operands), Tag::nhwc);
  d.plain_wei = f32_desc({w[0], w[3], w[1], w[2]}, Tag::ohwi);  // stored [Co, kh, kw, Ci]
  d.bias = f32_desc({w[0]}, Tag::a);
  d.dst = f32_desc({y[0], y[3], y[1], y[2]}, Tag::nhwc);
  const dnnl::primitive_attr attr = epilogue_attr(a.epilogue, sig.in_shapes.size() > 3, d.dst);
  const memory::desc any_wei({w[0], w[3], w[1], w[2]}, data_type(operands), Tag::any);
  const memory::dims strides = {a.stride, a.stride}, dilates = {a.dilation - 1, a.dilation - 1},
                     pad = {a.pad, a.pad};
#if DNNL_VERSION_MAJOR >= 3
  dnnl::convolution_forward::primitive_desc pd(cpu_engine(), dnnl::prop_kind::forward_inference,
                                               dnnl::algorithm::convolution_direct, d.src, any_wei, d.bias,
                                               d.dst, strides, dilates, pad, pad, attr);
#else
  dnnl::convolution_forward::primitive_desc pd(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                      d.src, any_wei, d.bias, d.dst, strides, dilates, pad, pad),
      attr, cpu_engine());
#endif
  d.wei = pd.weights_desc();
  d.pd = pd;
  return d;
}

// A node's primitive, its memory objects (handles set at each run) and the
// argument list handed to dnnl_primitive_execute.
struct PrimitiveState {
  dnnl::primitive prim;
  dnnl::stream stream;
  memory src, wei, bias, dst, residual, scratch;
  Tensor weights;  // in the primitive's layout
  dnnl_exec_arg_t args[6];
  int nargs = 0;
  // BF16 operands: the reorder that converts the input into `src`, whose
  // memory sits in the workspace after the scratchpad.
  dnnl::primitive convert;
  memory src_f32;
  dnnl_exec_arg_t convert_args[2];
  size_t src_offset = 0;
};

Descs descs_of(const NodeSignature& sig, DType operands) {
  // A primitive keeps the thread count it was created with (its work split
  // asks for that many threads when it runs, whatever the caller then
  // binds): create it with the backend's.
  if (sig.backend) ThreadPool::bind_calling_thread(sig.backend->threads());
  return sig.node->op == graph::Op::linear ? matmul_descs(sig, operands) : conv_descs(sig, operands);
}

size_t aligned(size_t n) { return (n + 63) / 64 * 64; }

// The weight reordered from its stored layout into the one the primitive picked.
Tensor reorder_weights(const Tensor& plain, const memory::desc& from, const memory::desc& to) {
  // Opaque bytes: a blocked layout, F32 or BF16.
  Tensor out = Tensor::empty(DType::u8, {static_cast<int64_t>(to.get_size())});
  memory src(from, cpu_engine(), plain.data()), dst(to, cpu_engine(), out.data());
  dnnl::stream stream(cpu_engine());
  dnnl::reorder(src, dst).execute(stream, src, dst);
  stream.wait();
  return out;
}

// Two descriptors with the same serialised form describe the same layout.
std::string layout_key(const memory::desc& d) {
#if DNNL_VERSION_MAJOR >= 3
  const std::vector<uint8_t> blob = d.get_blob();
  return std::string(blob.begin(), blob.end());
#else
  return std::string(reinterpret_cast<const char*>(&d.data), sizeof d.data);
#endif
}

void* prepare(const NodeSignature& sig, DType operands) {
  try {
    Descs d = descs_of(sig, operands);
    auto* st = new PrimitiveState;
    try {
      st->prim = dnnl::primitive(d.pd.get());
      st->stream = dnnl::stream(cpu_engine());
      const memory::desc from = d.plain_wei, to = d.wei;
      st->weights = from == to ? sig.weights->get(sig.weight_ids[1], DType::f32)
                               : sig.weights->derived(sig.weight_ids[1], DType::f32, layout_key(to),
                                                      [&](const Tensor& plain) { return reorder_weights(plain, from, to); });
      // Handles are set at each run; DNNL_MEMORY_NONE allocates nothing here.
      st->src = memory(d.src, cpu_engine(), DNNL_MEMORY_NONE);
      st->wei = memory(d.wei, cpu_engine(), st->weights.data());
      st->bias = memory(d.bias, cpu_engine(), DNNL_MEMORY_NONE);
      st->dst = memory(d.dst, cpu_engine(), DNNL_MEMORY_NONE);
      st->scratch = memory(d.pd.scratchpad_desc(), cpu_engine(), DNNL_MEMORY_NONE);
      st->args[st->nargs++] = {DNNL_ARG_SRC, st->src.get()};
      st->args[st->nargs++] = {DNNL_ARG_WEIGHTS, st->wei.get()};
      st->args[st->nargs++] = {DNNL_ARG_BIAS, st->bias.get()};
      st->args[st->nargs++] = {DNNL_ARG_DST, st->dst.get()};
      st->args[st->nargs++] = {DNNL_ARG_SCRATCHPAD, st->scratch.get()};
      if (operands != DType::f32) {
        st->src_f32 = memory(d.src_f32, cpu_engine(), DNNL_MEMORY_NONE);
        st->convert = dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), d.src_f32, cpu_engine(), d.src));
        st->convert_args[0] = {DNNL_ARG_FROM, st->src_f32.get()};
        st->convert_args[1] = {DNNL_ARG_TO, st->src.get()};
        st->src_offset = aligned(d.pd.scratchpad_desc().get_size());
      }
      if (sig.in_shapes.size() > 3) {
        st->residual = memory(d.dst, cpu_engine(), DNNL_MEMORY_NONE);
        // The residual's post-op comes first unless an activation precedes it.
        Epilogue e = sig.node->attrs.epilogue;
        e.residual = true;
        const int index = e.residual_first() ? 0 : 1;
        st->args[st->nargs++] = {DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1, st->residual.get()};
      }
    } catch (...) {
      delete st;
      throw;
    }
    return st;
  } catch (const dnnl::error& e) {
    fail(StatusCode::internal, "oneDNN cannot build ", graph::op_def(sig.node->op).name, ": ", e.what());
  }
}

void set_handle(const memory& m, const void* p) {
  dnnl_memory_set_data_handle(m.get(), const_cast<void*>(p));
}

size_t workspace(const NodeSignature& sig, DType operands) {
  try {
    const Descs d = descs_of(sig, operands);
    const size_t scratch = d.pd.scratchpad_desc().get_size();
    return operands == DType::f32 ? scratch : aligned(scratch) + d.src.get_size();
  } catch (const dnnl::error& e) {
    fail(StatusCode::internal, "oneDNN cannot build ", graph::op_def(sig.node->op).name, ": ", e.what());
  }
}

}  // namespace

size_t onednn_workspace(const NodeSignature& sig, int) { return workspace(sig, DType::f32); }
size_t onednn_workspace_bf16(const NodeSignature& sig, int) { return workspace(sig, DType::bf16); }
void* onednn_prepare(const NodeSignature& sig) { return prepare(sig, DType::f32); }
void* onednn_prepare_bf16(const NodeSignature& sig) { return prepare(sig, DType::bf16); }

void onednn_release(void* state) noexcept { delete static_cast<PrimitiveState*>(state); }

void onednn_run(const KernelArgs& a) {
  auto* st = static_cast<PrimitiveState*>(a.state);
  a.pool->bind_calling_thread();
  dnnl_status_t status = dnnl_success;
  if (st->convert) {
    set_handle(st->src_f32, a.in[0]->data());
    set_handle(st->src, static_cast<char*>(a.workspace) + st->src_offset);
    status = dnnl_primitive_execute(st->convert.get(), st->stream.get(), 2, st->convert_args);
  } else {
    set_handle(st->src, a.in[0]->data());
  }
  set_handle(st->bias, a.in[2]->data());
  set_handle(st->dst, a.out.data());
  set_handle(st->scratch, a.workspace);
  if (a.num_inputs > 3) set_handle(st->residual, a.in[3]->data());
  if (status == dnnl_success)
    status = dnnl_primitive_execute(st->prim.get(), st->stream.get(), st->nargs, st->args);
  if (status != dnnl_success)
    fail(StatusCode::internal, "oneDNN ", graph::op_def(a.node->op).name, " failed with status ", int(status));
}

}  // namespace visionrt::cpu
