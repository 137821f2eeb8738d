// Every op on every backend, in every dtype the backend computes in, against
// the tests' double-precision reference (tests/reference/op_reference.hpp),
// table-driven: one row per (op, shape, options) case. Each case runs as a
// one-node graph through the executor, whose passes give the node the casts
// and weight conversions a model's node gets in that dtype, so the op table,
// precision pass, memory planner and backend binding are exercised too.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <tuple>

#include "api/registry.hpp"
#include "backends/cpu/gemm.hpp"
#include "backends/cuda_plugin.hpp"
#include "core/thread_pool.hpp"
#include "graph/ops.hpp"
#include "backend_op_cases.hpp"
#include "reference/op_reference.hpp"
#include "runtime/executor.hpp"

namespace visionrt {
namespace testing {

std::mt19937& case_rng() {
  static std::mt19937 rng(1234);
  return rng;
}

Tensor random_tensor(Shape shape, float lo, float hi) {
  Tensor t = Tensor::empty(DType::f32, std::move(shape));
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = d(case_rng());
  return t;
}

}  // namespace testing

namespace {

using graph::Attrs;
using graph::Op;
using testing::Values;

using testing::Case;
using testing::random_tensor;

// `t` converted to `to`, rounding to nearest even.
Tensor converted(const Tensor& t, DType to) {
  Tensor out = Tensor::empty(to, t.shape());
  convert_floats(t.data(), t.dtype(), out.data(), to, t.numel());
  return out;
}

Values values_of(const Tensor& t) {
  const Tensor f = converted(t, DType::f32);  // exact from any float dtype
  return Values(f.f32(), f.f32() + f.numel());
}

Case linear_case(int64_t M, int64_t K, int64_t N, Activation act, bool residual) {
  Case c{"linear_" + std::to_string(M) + "x" + std::to_string(K) + "x" + std::to_string(N) +
             "_act" + std::to_string(int(act)) + (residual ? "_res" : ""),
         Op::linear, {}, {random_tensor({2, M / 2, K}), random_tensor({N, K}), random_tensor({N})},
         {false, true, true}, nullptr, 2};
  c.attrs.epilogue.act = act;
  if (residual) {
    c.inputs.push_back(random_tensor({2, M / 2, N}));
    c.is_weight.push_back(false);
  }
  c.reference = [=, a = c.attrs](const std::vector<Values>& in) {
    return reference::epilogue(reference::linear(M, N, K, in[0], in[1], {}, {}, nullptr), N, in[2], a.epilogue.act,
                               a.epilogue.order, in.size() > 3 ? in[3] : Values{});
  };
  return c;
}

Case attention_case(int64_t B, int64_t Sq, int64_t Sk, int heads, int dh, bool fused_qkv, int mask_mode) {
  Attrs a;
  a.heads = heads;
  a.dim = heads * dh;
  Case c;
  c.name = "attention_B" + std::to_string(B) + "_Sq" + std::to_string(Sq) + "_Sk" + std::to_string(Sk) +
           "_H" + std::to_string(heads) + "_D" + std::to_string(dh) + (fused_qkv ? "_fused" : "") +
           "_mask" + std::to_string(mask_mode);
  c.op = Op::attention;
  if (fused_qkv) {
    Tensor qkv = random_tensor({B, Sq, 3 * a.dim}, -2.f, 2.f);
    a.k_offset = a.dim;
    a.v_offset = 2 * a.dim;
    c.inputs = {qkv, qkv, qkv};
  } else {
    // Row strides wider than the head columns, as when reading from a wider
    // projection; strides and offsets of whole 16-byte units in every dtype,
    // as the GPU's kernel reads them.
    c.inputs = {random_tensor({B, Sq, a.dim + 8}, -2.f, 2.f), random_tensor({B, Sk, a.dim}, -2.f, 2.f),
                random_tensor({B, Sk, a.dim + 16})};
    a.q_offset = 8;
    a.v_offset = 16;
  }
  c.is_weight = {false, false, false};
  if (mask_mode) {
    Tensor m = Tensor::empty(DType::f32, {B, Sk});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < Sk; ++j)  // 1: batch 0 keeps 2/3 of its keys; 2: batch 0 has none
        m.f32()[b * Sk + j] = b == 0 ? (mask_mode == 1 ? (j < Sk * 2 / 3) : 0.f) : 1.f;
    c.inputs.push_back(m);
    c.is_weight.push_back(false);
  }
  c.attrs = a;
  reference::AttentionShape s;
  s.batch = int(B);
  s.heads = heads;
  s.head_dim = dh;
  s.q_len = int(Sq);
  s.kv_len = int(Sk);
  s.q_stride = c.inputs[0].dim(2);
  s.k_stride = c.inputs[1].dim(2);
  s.v_stride = c.inputs[2].dim(2);
  s.q_offset = a.q_offset;
  s.k_offset = a.k_offset;
  s.v_offset = a.v_offset;
  s.scale = 1.0 / std::sqrt(double(dh));
  c.reference = [s](const std::vector<Values>& in) {
    return reference::attention(s, in[0], in[1], in[2], in.size() > 3 ? in[3] : Values{});
  };
  // The output, and on the GPU the probabilities before P.V.
  c.roundings = 2;
  return c;
}

// Values over 45 binary orders of magnitude, f16's subnormals included, so
// that every cast case rounds most of them.
Tensor wide_range_tensor(Shape shape) {
  Tensor t = random_tensor(std::move(shape), 1.f, 2.f);
  std::uniform_int_distribution<int> exponent(-30, 14);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = std::ldexp(i % 2 ? -t.f32()[i] : t.f32()[i], exponent(testing::case_rng()));
  return t;
}

std::vector<Case> all_cases() {
  testing::case_rng().seed(1234);  // the same cases on every backend
  std::vector<Case> cases;
  for (auto [M, K, N] : {std::tuple{2, 3, 5}, {10, 64, 96}, {394, 128, 384}, {6, 257, 33}})
    for (Activation act : {Activation::none, Activation::gelu_erf, Activation::gelu_tanh, Activation::relu,
                           Activation::silu})
      cases.push_back(linear_case(M, K, N, act, act == Activation::none || M == 10));
  cases.push_back(attention_case(2, 197, 197, 3, 64, true, 0));
  cases.push_back(attention_case(1, 17, 17, 2, 32, true, 0));
  cases.push_back(attention_case(2, 10, 45, 2, 32, false, 1));
  cases.push_back(attention_case(2, 7, 13, 1, 32, false, 2));
  for (int64_t D : {32, 768, 1000}) {
    Attrs a;
    a.eps = 1e-6f;
    // A large common offset checks the variance is taken around the mean.
    Case c{"layer_norm_D" + std::to_string(D), Op::layer_norm, a,
           {random_tensor({3, 5, D}, 90.f, 110.f), random_tensor({D}), random_tensor({D})},
           {false, true, true}, nullptr};
    c.reference = [D, eps = a.eps](const std::vector<Values>& in) {
      return reference::layer_norm(int64_t(in[0].size()) / D, D, in[0], in[1], in[2], eps);
    };
    cases.push_back(c);
  }
  for (auto [N, C, H, W, P, D] : {std::tuple{2, 3, 32, 48, 16, 24}, {1, 1, 30, 29, 7, 5}}) {
    Attrs a;
    a.patch = P;
    Case c{"patch_embed_" + std::to_string(H) + "x" + std::to_string(W) + "_P" + std::to_string(P),
           Op::patch_embed, a,
           {random_tensor({N, C, H, W}), random_tensor({D, C, P, P}), random_tensor({D})},
           {false, true, true}, nullptr, 2};  // the output, and on the GPU the bias it starts from
    c.reference = [s = reference::PatchShape{N, C, H, W, P, D}](const std::vector<Values>& in) {
      return reference::patch_embed(s, in[0], in[1], in[2], {}, {}, nullptr);
    };
    cases.push_back(c);
  }
  // No prefix (timm's ViT without a class token), one prefix row (ViT's
  // class token), then class, distillation and register tokens (DeiT,
  // DINOv2 with registers).
  for (int64_t P : {0, 1, 6}) {
    Case c{"embed_tokens_prefix" + std::to_string(P), Op::embed_tokens, {},
           {random_tensor({2, 6, 8}), random_tensor({1, 6, 8})}, {false, true}, nullptr};
    if (P > 0) {
      c.inputs.push_back(random_tensor({1, P, 8}));
      c.is_weight.push_back(true);
    }
    c.reference = [P](const std::vector<Values>& in) {
      return reference::embed_tokens(2, 6, 8, P, in[0], P > 0 ? in[2] : Values{}, in[1]);
    };
    cases.push_back(c);
  }
  // The patch tokens past one class token, and past a class token and four
  // registers.
  {
    Attrs a;
    a.index = 7;
    a.count = 4;
    Case c{"slice_tokens", Op::slice_tokens, a, {random_tensor({3, 11, 7})}, {false}, nullptr, 0};
    c.reference = [](const std::vector<Values>& in) { return reference::slice_tokens(3, 11, 7, 7, 4, in[0]); };
    cases.push_back(c);
  }
  for (int first : {1, 5}) {
    Attrs a;
    a.index = first;
    Case c{"mean_tokens_from" + std::to_string(first), Op::mean_tokens, a, {random_tensor({3, 11, 7})}, {false},
           nullptr};
    c.reference = [first](const std::vector<Values>& in) { return reference::mean_tokens(3, 11, 7, first, in[0]); };
    cases.push_back(c);
  }
  for (Activation act :
       {Activation::gelu_erf, Activation::gelu_tanh, Activation::relu, Activation::sigmoid, Activation::silu}) {
    Attrs a;
    a.epilogue.act = act;
    Case c{"activation_" + std::to_string(int(act)), Op::activation, a, {random_tensor({3, 1001}, -6.f, 6.f)}, {false}, nullptr};
    c.reference = [act](const std::vector<Values>& in) {
      Values out;
      for (double x : in[0]) out.push_back(reference::activation(act, x));
      return out;
    };
    cases.push_back(c);
  }
  {
    Case c{"add", Op::add, {}, {random_tensor({4, 33}), random_tensor({4, 33})}, {false, false}, nullptr};
    c.reference = [](const std::vector<Values>& in) { return reference::add(in[0], in[1]); };
    cases.push_back(c);
  }
  {
    Attrs a;
    a.index = 2;
    Case c{"select_token", Op::select_token, a, {random_tensor({3, 5, 7})}, {false}, nullptr, 0};
    c.reference = [](const std::vector<Values>& in) { return reference::select_token(3, 5, 7, 2, in[0]); };
    cases.push_back(c);
  }
  for (auto [N, H, W, Ci, Co, k, stride, pad, dil, act, res] :
       {std::tuple{2, 9, 11, 3, 8, 7, 2, 3, 1, Activation::relu, false},
        {1, 6, 5, 16, 12, 1, 1, 0, 1, Activation::none, true},
        {2, 7, 7, 4, 6, 1, 2, 0, 1, Activation::none, false},
        {1, 8, 9, 5, 7, 3, 1, 2, 2, Activation::relu, true},
        {1, 10, 6, 3, 4, 3, 2, 1, 1, Activation::none, false}}) {
    Attrs a;
    // ResNet's order; linear cases check the other.
    a.epilogue.order = ResidualOrder::residual_then_act;
    a.stride = stride;
    a.pad = pad;
    a.dilation = dil;
    a.epilogue.act = act;
    const reference::ConvGeometry g{N, H, W, Ci, Co, k, k, stride, pad, dil};
    Case c{"conv2d_" + std::to_string(k) + "x" + std::to_string(k) + "_s" + std::to_string(stride) + "_d" +
               std::to_string(dil) + (res ? "_res" : ""),
           Op::conv2d, a, {random_tensor({N, H, W, Ci}), random_tensor({Co, k, k, Ci}), random_tensor({Co})},
           {false, true, true}, nullptr, 2};  // the output, and on the GPU an unfused epilogue's input
    if (res) {
      c.inputs.push_back(random_tensor({N, g.out_h(), g.out_w(), Co}));
      c.is_weight.push_back(false);
    }
    c.reference = [a, g](const std::vector<Values>& in) {
      return reference::epilogue(reference::conv2d(g, in[0], in[1], nullptr), g.co, in[2], a.epilogue.act, a.epilogue.order,
                                 in.size() > 3 ? in[3] : Values{});
    };
    cases.push_back(c);
  }
  // Depthwise (groups == Ci == Co, HGNetV2's): stride 2 on odd sizes, 1x1
  // maps, channels off the vector widths (vector tails) and on them, both
  // epilogue orders.
  for (auto [N, H, W, C, k, stride, dil, act, res, order] :
       {std::tuple{2, 9, 11, 19, 3, 2, 1, Activation::relu, false, ResidualOrder::residual_then_act},
        {1, 8, 7, 32, 5, 1, 1, Activation::none, true, ResidualOrder::residual_then_act},
        {2, 1, 1, 24, 3, 1, 1, Activation::relu, true, ResidualOrder::act_then_residual},
        {1, 7, 5, 16, 5, 2, 1, Activation::relu, true, ResidualOrder::residual_then_act},
        {1, 6, 9, 13, 3, 1, 2, Activation::none, false, ResidualOrder::act_then_residual},
        {1, 2, 3, 40, 5, 2, 1, Activation::relu, true, ResidualOrder::act_then_residual}}) {
    Attrs a;
    a.groups = C;
    a.stride = stride;
    a.pad = dil * (k - 1) / 2;
    a.dilation = dil;
    a.epilogue.act = act;
    a.epilogue.order = order;
    reference::ConvGeometry g{N, H, W, C, C, k, k, stride, a.pad, dil};
    g.groups = C;
    Case c{"conv2d_depthwise_" + std::to_string(H) + "x" + std::to_string(W) + "x" + std::to_string(C) + "_k" +
               std::to_string(k) + "_s" + std::to_string(stride) + "_d" + std::to_string(dil) + (res ? "_res" : "") +
               "_act" + std::to_string(int(act)) + "_order" + std::to_string(int(order)),
           Op::conv2d, a, {random_tensor({N, H, W, C}), random_tensor({C, k, k, 1}), random_tensor({C})},
           {false, true, true}, nullptr, 1};
    if (res) {
      c.inputs.push_back(random_tensor({N, g.out_h(), g.out_w(), C}));
      c.is_weight.push_back(false);
    }
    c.reference = [a, g](const std::vector<Values>& in) {
      return reference::epilogue(reference::conv2d(g, in[0], in[1], nullptr), g.co, in[2], a.epilogue.act, a.epilogue.order,
                                 in.size() > 3 ? in[3] : Values{});
    };
    cases.push_back(c);
  }
  {
    Attrs a;
    a.kernel = 3;
    a.stride = 2;
    a.pad = 1;
    Case c{"max_pool_3x3_s2", Op::max_pool, a, {random_tensor({2, 9, 8, 5})}, {false}, nullptr, 0};
    c.reference = [](const std::vector<Values>& in) { return reference::max_pool(2, 9, 8, 5, 3, 2, 1, in[0]); };
    cases.push_back(c);
  }
  {
    Case c{"nchw_to_nhwc", Op::nchw_to_nhwc, {}, {random_tensor({2, 3, 4, 5})}, {false}, nullptr, 0};
    c.reference = [](const std::vector<Values>& in) { return reference::nchw_to_nhwc(2, 3, 4, 5, in[0]); };
    cases.push_back(c);
  }
  {
    Case c{"flatten_spatial", Op::flatten_spatial, {}, {random_tensor({2, 3, 4, 5})}, {false}, nullptr, 0};
    c.reference = [](const std::vector<Values>& in) { return reference::flatten_spatial(in[0]); };
    cases.push_back(c);
    Attrs a;
    a.out_h = 3;
    a.out_w = 4;
    Case u{"unflatten_spatial", Op::unflatten_spatial, a, {random_tensor({2, 12, 5})}, {false}, nullptr, 0};
    u.reference = [](const std::vector<Values>& in) { return reference::flatten_spatial(in[0]); };  // the same order
    cases.push_back(u);
  }
  {
    // A padding mask: image 0 valid in its top-left 13x9 of 20x17, image 1 whole.
    Tensor m = Tensor::empty(DType::f32, {2, 20, 17});
    for (int64_t y = 0; y < 20; ++y)
      for (int64_t x = 0; x < 17; ++x) {
        m.f32()[y * 17 + x] = (y < 13 && x < 9) ? 1.f : 0.f;
        m.f32()[20 * 17 + y * 17 + x] = 1.f;
      }
    Attrs a;
    a.out_h = 3;
    a.out_w = 5;
    Case c{"mask_resize", Op::mask_resize, a, {m}, {false}, nullptr, 0};
    c.reference = [](const std::vector<Values>& in) { return reference::mask_resize(2, 20, 17, 3, 5, in[0]); };
    cases.push_back(c);
  }
  {
    Attrs a;
    a.out_h = 4;
    a.out_w = 6;
    a.dim = 16;
    Tensor m = Tensor::empty(DType::f32, {2, 24});
    for (int i = 0; i < 24; ++i) {
      m.f32()[i] = (i / 6 < 3 && i % 6 < 4) ? 1.f : 0.f;
      m.f32()[24 + i] = 1.f;
    }
    Case c{"sine_position", Op::sine_position, a, {m}, {false}, nullptr};
    // DETR's normalised encoding, as the graph's op computes it.
    reference::SineShape s;
    s.batch = 2;
    s.height = a.out_h;
    s.width = a.out_w;
    s.feats = a.dim / 2;
    s.temperature = a.temperature;
    s.scale = 2 * M_PI;
    c.reference = [s](const std::vector<Values>& in) { return reference::sine_position(s, in[0], nullptr); };
    cases.push_back(c);
  }
  for (auto [from, to] : {std::pair{DType::f32, DType::f16}, {DType::f32, DType::bf16}, {DType::f16, DType::f32},
                          {DType::bf16, DType::f16}}) {
    Attrs a;
    a.dtype = to;
    Case c{std::string("cast_") + dtype_name(from) + "_to_" + dtype_name(to), Op::cast, a,
           {converted(wide_range_tensor({3, 50}), from)}, {false}, nullptr, 0};
    c.reference = [to = to](const std::vector<Values>& in) { return reference::cast(to, in[0]); };
    cases.push_back(c);
  }
  {
    Attrs a;
    a.count = 3;
    Case c{"expand", Op::expand, a, {random_tensor({5, 7})}, {true}, nullptr, 0};
    c.reference = [](const std::vector<Values>& in) { return reference::expand(in[0], 3); };
    cases.push_back(c);
  }
  {
    Case c{"zeros_like", Op::zeros_like, {}, {random_tensor({3, 9})}, {false}, nullptr, 0};
    c.reference = [](const std::vector<Values>& in) { return reference::zeros_like(in[0].size()); };
    cases.push_back(c);
  }
  // Plain bicubic (ViT, DINOv2) and antialiased (DINOv2 with registers,
  // timm): growing, shrinking (the antialiased filter then widens), one cell.
  for (auto [in_h, in_w, out_h, out_w, aa] :
       {std::tuple{3, 4, 5, 2, false}, {4, 4, 4, 7, false}, {2, 3, 1, 1, false}, {9, 7, 4, 3, true},
        {3, 4, 5, 9, true}, {5, 5, 5, 2, true}, {2, 3, 1, 1, true}}) {
    Attrs a;
    a.in_h = in_h;
    a.in_w = in_w;
    a.out_h = out_h;
    a.out_w = out_w;
    a.antialias = aa;
    const int64_t D = 6;
    Case c{std::string("resample_position_") + (aa ? "aa_" : "") + std::to_string(out_h) + "x" + std::to_string(out_w),
           Op::resample_position, a,
           // A 2-D table where it is joined with other rows after (YOLOS's mid positions).
           {aa && out_w == 9 ? random_tensor({int64_t(in_h) * in_w, D}) : random_tensor({1, int64_t(in_h) * in_w, D})},
           {true}, nullptr};
    c.reference = [a, D](const std::vector<Values>& in) {
      return reference::resample_position(a.in_h, a.in_w, a.out_h, a.out_w, D, in[0], nullptr, a.antialias);
    };
    cases.push_back(c);
  }
  add_detection_cases(cases);
  return cases;
}

// One backend as the public API makes it for a precision; its policy says
// what activations (the precision pass) and product operands are.
struct Config {
  std::string name;
  std::shared_ptr<Backend> backend;
  const PrecisionPolicy& precision() const { return backend->precision(); }
};

// The dtype input `slot` of a case reaches its kernel in: the precision
// pass converts activations and weights to the compute dtype (casts keep
// their input, masks stay F32); the CPU's BF16 products convert the two
// operands inside the kernel.
DType read_dtype(const Config& cfg, const Case& c, size_t slot) {
  const graph::OpDef& def = graph::op_def(c.op);
  if (!def.same_dtype_inputs || (def.f32_inputs >> slot & 1u)) return c.inputs[slot].dtype();
  if (cfg.precision().activations != DType::f32) return cfg.precision().activations;
  return (c.op == Op::linear || c.op == Op::conv2d) && slot < 2 ? cfg.precision().products : DType::f32;
}

// The case's inputs rounded to the dtype each is read in: those conversions
// are then exact, the reference sees what the kernel sees, and only the
// kernel's own arithmetic and the rounding of what it stores remain.
std::vector<Tensor> inputs_as_read(const Config& cfg, const Case& c) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    size_t first = 0;  // an input fed twice (fused QKV) stays one tensor
    while (c.inputs[first].data() != c.inputs[i].data()) ++first;
    const DType t = read_dtype(cfg, c, i);
    out.push_back(first < i                          ? out[first]
                  : t == c.inputs[i].dtype() ? c.inputs[i]
                                             : converted(converted(c.inputs[i], t), c.inputs[i].dtype()));
  }
  return out;
}

// The case as a one-node graph on the config's backend: its output's values.
Values run_case(const Config& cfg, const Case& c, const std::vector<Tensor>& inputs) {
  graph::Graph g;
  std::vector<int> ids;
  std::vector<Tensor> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    // An input fed twice (fused QKV) is one graph value.
    int id = -1;
    for (size_t j = 0; j < i; ++j)
      if (inputs[j].data() == inputs[i].data()) id = ids[j];
    if (id < 0) {
      id = c.is_weight[i] ? g.add_weight("w" + std::to_string(i), inputs[i])
                          : g.add_input("x" + std::to_string(i), inputs[i].shape(), inputs[i].dtype());
      if (!c.is_weight[i]) feeds.push_back(inputs[i]);
    }
    ids.push_back(id);
  }
  g.mark_output(g.add(c.op, ids, c.attrs));
  graph::Executor ex(std::move(g), cfg.backend);
  // After the precision pass: the output (cast back to F32 when computed in F16 or BF16).
  const graph::Value& out = ex.graph().value(ex.graph().outputs()[0]);
  Tensor got = Tensor::empty(out.dtype, out.shape);
  std::memset(got.data(), 0xff, got.nbytes());  // NaN in every float dtype: unwritten shows
  ex.run(feeds, {got});
  return values_of(got);
}

// fp32 against a double reference: every op here sums at most ~1000
// products or exponentials per output, whose float rounding stays below
// ~1e-6 relative in practice; 2e-5 of the output scale leaves a margin
// without hiding a wrong index or a missing term (those err by O(1)). The
// CPU's BF16 products get operands exact in BF16, whose products fp32 holds
// exactly: the same bound.
constexpr double kTolerance = 2e-5;

// Computing in f16 or bf16 adds, to the same fp32 arithmetic inside the
// kernels, the case's roundings to that dtype (of unit roundoff u, 2^-11 or
// 2^-8): of the op's output, and of what a GPU kernel stores on the way (a
// product before an unfused epilogue, the bias an output starts from,
// attention's probabilities). Each errs by u of the value rounded, and those
// stay within twice the output scale here: a pre-activation reaches the
// output through an activation that shrinks it, attention's outputs average
// V rows within [-2, 2] against a scale of at least 1. So 2u per rounding.
double tolerance(const Case& c, DType compute) {
  if (c.roundings == 0) return 0.0;
  if (compute == DType::f32) return kTolerance;
  return kTolerance + 2 * c.roundings * std::ldexp(1.0, compute == DType::f16 ? -11 : -8);
}

void check_every_op(const Config& cfg) {
  for (const Case& c : all_cases()) {
    SCOPED_TRACE(cfg.name + " / " + c.name);
    const std::vector<Tensor> inputs = inputs_as_read(cfg, c);
    std::vector<Values> read;
    for (const Tensor& t : inputs) read.push_back(values_of(t));
    const Values want = c.reference(read);
    const Values got = run_case(cfg, c, inputs);
    ASSERT_EQ(want.size(), got.size());
    double scale = 1.0, err = 0.0;
    for (double w : want)
      if (std::isfinite(w)) scale = std::max(scale, std::abs(w));
    for (size_t i = 0; i < got.size(); ++i) {
      // NaN or an infinity where a case feeds them: the same back.
      if (!std::isfinite(want[i])) {
        EXPECT_TRUE(std::isnan(want[i]) ? std::isnan(got[i]) : got[i] == want[i])
            << "element " << i << ": " << got[i] << " for " << want[i];
        continue;
      }
      ASSERT_TRUE(std::isfinite(got[i])) << "element " << i;
      err = std::max(err, std::abs(got[i] - want[i]));
    }
    EXPECT_LE(err / scale, tolerance(c, cfg.precision().activations)) << "max abs error " << err << " at scale " << scale;
  }
}

Config cpu_config(const std::string& name, int threads, Precision precision) {
  return {name, choose_backend(Device::cpu, threads, precision).backend};
}

Config cuda_config(const std::string& name, Precision precision) {
  return {name, choose_backend(Device::cuda, 0, precision).backend};
}

// Why the GPU backend cannot run here, or "" where it can.
std::string no_cuda_reason() {
  if (cuda_backend_usable()) return "";
  std::string why = "visionrt was built without CUDA";
#if VISIONRT_HAVE_CUDA
  cuda_driver_has_device(&why);
#endif
  return why;
}

TEST(BackendOpsTest, CpuMatchesReference) {
  check_every_op(cpu_config("cpu", 0, Precision::fp32));
  check_every_op(cpu_config("cpu_1thread", 1, Precision::fp32));
}

TEST(BackendOpsTest, CpuBf16ProductsMatchReference) {
  Config cfg;
  try {
    cfg = cpu_config("cpu_bf16_products", 0, Precision::bf16);
  } catch (const Error& e) {
    GTEST_SKIP() << "no BF16 on this CPU: " << e.what();
  }
  check_every_op(cfg);
}

TEST(BackendOpsTest, CudaF32MatchesReference) {
  const std::string why = no_cuda_reason();
  if (!why.empty()) GTEST_SKIP() << "no CUDA device: " << why;
  check_every_op(cuda_config("cuda_f32", Precision::fp32));
}

TEST(BackendOpsTest, CudaF16MatchesReference) {
  const std::string why = no_cuda_reason();
  if (!why.empty()) GTEST_SKIP() << "no CUDA device: " << why;
  check_every_op(cuda_config("cuda_f16", Precision::fp16));
}

TEST(BackendOpsTest, CudaBf16MatchesReference) {
  const std::string why = no_cuda_reason();
  if (!why.empty()) GTEST_SKIP() << "no CUDA device: " << why;
  check_every_op(cuda_config("cuda_bf16", Precision::bf16));
}

// Grouped convolutions that are not depthwise (1 < groups < Ci) have no CPU
// kernel: refused when the graph is planned, saying what runs, in fp32 and
// with BF16 products alike; none of the dense kernels takes them.
TEST(BackendOpsTest, CpuRefusesGroupedConvByName) {
  graph::Graph g;
  Attrs a;
  a.groups = 2;
  a.pad = 1;
  const int w = g.add_weight("w", random_tensor({8, 3, 3, 4})), b = g.add_weight("b", random_tensor({8}));
  g.mark_output(g.add(Op::conv2d, {g.add_input("x", {1, 6, 6, 8}), w, b}, a));
  std::vector<Config> configs = {cpu_config("cpu", 1, Precision::fp32)};
  try {
    configs.push_back(cpu_config("cpu_bf16_products", 1, Precision::bf16));
  } catch (const Error&) {
  }
  for (const Config& cfg : configs) {
    const std::string missing = graph::missing_kernel(g, *cfg.backend);
    EXPECT_NE(missing.find("'conv2d' kernel for this node"), std::string::npos) << cfg.name << ": " << missing;
    EXPECT_NE(missing.find("groups 1 and depthwise (groups == Ci == Co) only"), std::string::npos)
        << cfg.name << ": " << missing;
  }
}

// The reference's grouped convolution is each group's dense convolution of
// its channels, the groups' outputs side by side.
TEST(BackendOpsTest, ReferenceGroupedConvIsConvPerGroup) {
  const int64_t N = 2, H = 5, W = 6, Ci = 6, Co = 9, G = 3, k = 3;
  reference::ConvGeometry g{N, H, W, Ci, Co, k, k, 2, 1, 1};
  g.groups = G;
  const Values x = values_of(random_tensor({N, H, W, Ci})), w = values_of(random_tensor({Co, k, k, Ci / G}));
  const Values got = reference::conv2d(g, x, w, nullptr);
  const int64_t pixels = N * g.out_h() * g.out_w();
  for (int64_t grp = 0; grp < G; ++grp) {
    reference::ConvGeometry one{N, H, W, Ci / G, Co / G, k, k, 2, 1, 1};
    Values xg, wg;
    for (int64_t p = 0; p < N * H * W; ++p)
      xg.insert(xg.end(), x.begin() + p * Ci + grp * (Ci / G), x.begin() + p * Ci + (grp + 1) * (Ci / G));
    wg.assign(w.begin() + grp * (Co / G) * k * k * (Ci / G), w.begin() + (grp + 1) * (Co / G) * k * k * (Ci / G));
    const Values want = reference::conv2d(one, xg, wg, nullptr);
    for (int64_t p = 0; p < pixels; ++p)
      for (int64_t c = 0; c < Co / G; ++c)
        ASSERT_EQ(got[size_t(p * Co + grp * (Co / G) + c)], want[size_t(p * (Co / G) + c)]) << grp << " " << p << " " << c;
  }
}

// lqe_stat's sides whose softmax is NaN (a NaN or +inf logit, or every
// logit -inf) give NaN throughout, as torch's softmax then topk do, and
// leave the other sides of their boxes alone; the ranking never leaves
// the side.
void check_lqe_stat_nan_sides(const Config& cfg) {
  SCOPED_TRACE(cfg.name);
  const int bins = 4, n = bins + 1, k = 3;
  Attrs a;
  a.bins = bins;
  a.count = k;
  Case c{"lqe_stat_nan", Op::lqe_stat, a, {random_tensor({1, 5, 4 * n}, -4.f, 4.f)}, {false}, nullptr, 1};
  float* x = c.inputs[0].f32();
  x[1 * n + 2] = NAN;
  x[6 * n + 4] = INFINITY;
  for (int i = 0; i < n; ++i) x[11 * n + i] = -INFINITY;
  const std::vector<Tensor> inputs = inputs_as_read(cfg, c);
  const Values want = reference::lqe_stat(5, bins, k, values_of(inputs[0]));
  const Values got = run_case(cfg, c, inputs);
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const size_t side = i / (k + 1);
    if (side == 1 || side == 6 || side == 11) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i << " of side " << side << ": " << got[i];
    } else {
      EXPECT_NEAR(got[i], want[i], tolerance(c, cfg.precision().activations)) << "element " << i;
    }
  }
}

TEST(BackendOpsTest, LqeStatOfNanSides) {
  check_lqe_stat_nan_sides(cpu_config("cpu", 0, Precision::fp32));
  if (!no_cuda_reason().empty()) return;
  for (Precision p : {Precision::fp32, Precision::fp16, Precision::bf16})
    check_lqe_stat_nan_sides(cuda_config(std::string("cuda_") + precision_name(p), p));
}

TEST(BackendOpsTest, BlockedGemmMatchesReference) {
  ThreadPool pool(2);
  for (auto [M, N, K] : {std::tuple{1, 1, 1}, {5, 7, 9}, {64, 130, 257}, {3, 200, 16}}) {
    Tensor a = random_tensor({M, K}), b = random_tensor({N, K});
    std::vector<float> c(M * N, NAN);
    cpu::gemm_nt_blocked(M, N, K, a.f32(), K, b.f32(), K, c.data(), N, &pool);
    const Values want = reference::linear(M, N, K, values_of(a), values_of(b), {}, {}, nullptr);
    double err = 0;
    for (size_t i = 0; i < want.size(); ++i) err = std::max(err, std::abs(want[i] - c[i]));
    EXPECT_LE(err, 1e-5 * std::sqrt(double(K))) << M << "x" << N << "x" << K;
  }
}

TEST(BackendOpsTest, ShapeRulesRejectMismatchedInputs) {
  graph::Graph g;
  const int x = g.add_input("x", {2, 5, 8});
  const int w = g.add_weight("w", random_tensor({4, 7}));
  const int b = g.add_weight("b", random_tensor({4}));
  try {
    g.add(Op::linear, {x, w, b});
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::shape_mismatch);
    EXPECT_NE(std::string(e.what()).find("[2, 5, 8]"), std::string::npos) << e.what();
  }
}

TEST(BackendOpsTest, PlannerReusesMemory) {
  // A chain of adds: each intermediate dies after its consumer, so the arena
  // needs room for a few buffers, not one per node.
  graph::Graph g;
  int h = g.add_input("x", {256, 256});
  const int y = g.add_input("y", {256, 256});
  for (int i = 0; i < 20; ++i) h = g.add(Op::add, {h, y});
  g.mark_output(h);
  const graph::MemoryPlan plan = graph::plan_memory(g, std::vector<size_t>(g.nodes().size(), 0));
  EXPECT_LE(plan.arena_bytes, 4u * 256 * 256 * sizeof(float));
}

}  // namespace
}  // namespace visionrt
