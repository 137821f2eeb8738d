// A model as data: values (graph inputs, weights, activations) and the nodes
// that compute activations from them, in execution order. Builders under
// models/ make graphs; the planner and executor run them on a backend.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace visionrt::graph {

enum class Op : uint8_t {
  patch_embed,    // [N,C,H,W] (x) weight [D,C,P,P], bias [D] -> [N, H/P * W/P, D]
  embed_tokens,   // tokens [N,T,D], cls [1,1,D], pos [1,T+1,D] -> [N,T+1,D]: cls first, + pos
  layer_norm,     // x [...,D], gamma [D], beta [D] -> [...,D]
  linear,         // x [...,K], weight [N,K], bias [N], (residual [...,N]) -> [...,N], + activation
  attention,      // q_src [B,Sq,*], k_src [B,Sk,*], v_src [B,Sk,*], (key mask [B,Sk]) -> [B,Sq,D]
  activation,     // x -> act(x), elementwise
  add,            // a + b, same shapes
  select_token,   // x [N,S,D] -> x[:, index, :] as [N,D]
  nchw_to_nhwc,   // [N,C,H,W] -> [N,H,W,C]
  flatten_spatial,  // [N,H,W,C] -> [N,H*W,C]: a feature map as a token sequence
  conv2d,         // x [N,H,W,Ci], weight [Co,kh,kw,Ci], bias [Co], (residual [N,Ho,Wo,Co]) -> [N,Ho,Wo,Co]
  max_pool,       // x [N,H,W,C] -> [N,Ho,Wo,C], window `kernel`, `stride`, `pad`
  mask_resize,    // mask [N,H,W] -> [N, out_h*out_w], nearest as torch's interpolate
  sine_position,  // mask [N, out_h*out_w] -> [N, out_h*out_w, dim], DETR's 2-D sine encoding
  count_,
};

enum class Activation : uint8_t { none, gelu_erf, gelu_tanh, relu, sigmoid };

// Per-node parameters. Plain fields, so nodes copy without allocating.
struct Attrs {
  float eps = 0.f;                          // layer_norm
  int patch = 0;                            // patch_embed: square kernel and stride
  int heads = 0, dim = 0;                   // attention: head count, output width D
  int q_offset = 0, k_offset = 0, v_offset = 0;  // attention: column of Q/K/V inside its source row
  int index = 0;                            // select_token
  int kernel = 0, stride = 1, pad = 0, dilation = 1;  // conv2d (kernel from weight), max_pool
  int out_h = 0, out_w = 0;                 // mask_resize, sine_position: the feature grid
  float temperature = 10000.f;              // sine_position
  Activation act = Activation::none;        // linear, conv2d (fused) and activation
};

enum class ValueKind : uint8_t { input, weight, activation };

struct Value {
  std::string name;
  Shape shape;
  ValueKind kind = ValueKind::activation;
  Tensor weight;  // the data of a weight value (F32, host)
};

struct Node {
  Op op;
  std::vector<int> inputs;  // value ids; optional trailing inputs may be absent
  int output = -1;
  Attrs attrs;
};

class Graph {
 public:
  int add_input(std::string name, Shape shape);
  int add_weight(std::string name, Tensor data);
  // Appends a node; its output shape comes from the op's shape rule, which
  // throws shape_mismatch naming the op and the shapes when they disagree.
  int add(Op op, std::vector<int> inputs, const Attrs& attrs = {});
  void mark_output(int value) { outputs_.push_back(value); }

  const Value& value(int id) const { return values_.at(id); }
  const std::vector<Value>& values() const { return values_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  std::vector<Node>& mutable_nodes() { return nodes_; }
  const std::vector<int>& inputs() const { return inputs_; }
  const std::vector<int>& outputs() const { return outputs_; }

 private:
  std::vector<Value> values_;
  std::vector<Node> nodes_;
  std::vector<int> inputs_, outputs_;
};

// Folds an activation, or a residual add, into the linear node that feeds it
// when that linear's output has no other use. Runs before planning.
void fuse_linear_epilogues(Graph& g);

}  // namespace visionrt::graph
