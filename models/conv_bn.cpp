#include "models/conv_bn.hpp"

#include <cmath>

namespace visionrt::models {
namespace {

// A conv's weight and BatchNorm as read, folded on demand.
struct ConvBn {
  Tensor w, gamma, beta, mean, var;
  int64_t co, ci;
  int k;
  double eps;

  ConvBn(CheckpointReader& r, const std::string& conv_weight, const std::string& bn, int64_t co_, int64_t ci_, int k_,
         double eps_)
      : w(r.tensor(conv_weight, {co_, ci_, k_, k_})),
        gamma(r.tensor(bn + ".weight", {co_})),
        beta(r.tensor(bn + ".bias", {co_})),
        mean(r.tensor(bn + ".running_mean", {co_})),
        var(r.tensor(bn + ".running_var", {co_})),
        co(co_), ci(ci_), k(k_), eps(eps_) {}

  // Adds the folded weight (NHWC, centred in a pad x pad wider window) or
  // the folded bias into `out`.
  void fold_into(Tensor& out, bool weight, int out_k) const {
    const Tensor g = to_f32(gamma), b = to_f32(beta), m = to_f32(mean), v = to_f32(var);
    const Tensor w32 = weight ? to_f32(w) : Tensor();
    const int off = (out_k - k) / 2;
    for (int64_t o = 0; o < co; ++o) {
      const double scale = g.f32()[o] / std::sqrt(double(v.f32()[o]) + eps);
      if (!weight) {
        out.f32()[o] += static_cast<float>(b.f32()[o] - m.f32()[o] * scale);
        continue;
      }
      for (int64_t i = 0; i < ci; ++i)
        for (int y = 0; y < k; ++y)
          for (int x = 0; x < k; ++x)
            out.f32()[((o * out_k + y + off) * out_k + x + off) * ci + i] +=
                static_cast<float>(w32.f32()[((o * ci + i) * k + y) * k + x] * scale);
    }
    if (weight) w.release_pages();
  }
};

// Derived weight and bias of the sum of `parts` (one, or RepVGG's two), in
// an out_k x out_k window.
FoldedConv folded(CheckpointReader& r, const std::string& name, std::vector<ConvBn> parts, int out_k, int stride,
                  int dilation) {
  const int64_t co = parts[0].co, ci = parts[0].ci;
  auto make = [parts, co, ci, out_k](bool weight) {
    Tensor out = Tensor::empty(DType::f32, weight ? Shape{co, out_k, out_k, ci} : Shape{co});
    std::fill(out.f32(), out.f32() + out.numel(), 0.f);
    for (const ConvBn& p : parts) p.fold_into(out, weight, out_k);
    return out;
  };
  FoldedConv f;
  f.weight = r.derived(name + ".weight (BatchNorm folded, NHWC)", {co, out_k, out_k, ci}, DType::f32,
                       [make] { return make(true); });
  f.bias = r.derived(name + ".bias (BatchNorm folded)", {co}, DType::f32, [make] { return make(false); });
  f.out_channels = co;
  f.in_channels = ci;
  f.stride = stride;
  f.dilation = dilation;
  f.pad = dilation * (out_k / 2);
  return f;
}

}  // namespace

FoldedConv read_conv_bn(CheckpointReader& reader, const std::string& conv_weight, const std::string& bn,
                        int64_t co, int64_t ci, int k, int stride, int dilation, double eps) {
  return folded(reader, conv_weight.substr(0, conv_weight.rfind('.')),
                {ConvBn(reader, conv_weight, bn, co, ci, k, eps)}, k, stride, dilation);
}

FoldedConv read_repvgg(CheckpointReader& reader, const std::string& conv3x3_weight, const std::string& bn3x3,
                       const std::string& conv1x1_weight, const std::string& bn1x1, int64_t c, double eps) {
  return folded(reader, conv3x3_weight.substr(0, conv3x3_weight.rfind('.')) + " + 1x1",
                {ConvBn(reader, conv3x3_weight, bn3x3, c, c, 3, eps), ConvBn(reader, conv1x1_weight, bn1x1, c, c, 1, eps)},
                3, 1, 1);
}

int add_folded_conv(graph::Graph& g, int x, const FoldedConv& c, Activation act) {
  graph::Attrs a;
  a.stride = c.stride;
  a.pad = c.pad;
  a.dilation = c.dilation;
  a.groups = c.groups;
  int y = g.add(graph::Op::conv2d, {x, g.add_weight(c.weight), g.add_weight(c.bias)}, a);
  if (act == Activation::none) return y;
  graph::Attrs act_attrs;
  act_attrs.epilogue.act = act;
  return g.add(graph::Op::activation, {y}, act_attrs);
}

}  // namespace visionrt::models
