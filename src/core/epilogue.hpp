// What follows a matrix product or a convolution, said once for the graph,
// both backends and the kernels: the bias (always first), an activation and
// a residual add, in one of two orders. A kernel that runs only part of it
// says so in its can_implement; the graph's fusion pass asks the backend
// before it gives a node an epilogue. Plain C++, so kernel headers use it too.
#pragma once
#include <cstdint>

namespace visionrt {

// gelu_erf is nn.GELU()'s exact form, gelu_tanh its approximate='tanh' one;
// silu is x * sigmoid(x).
enum class Activation : uint8_t { none, gelu_erf, gelu_tanh, relu, sigmoid, silu };

// Where the residual joins: act(y) + r (a transformer block's residual after
// its feed-forward) or act(y + r) (a ResNet block's ReLU after its shortcut).
enum class ResidualOrder : uint8_t { act_then_residual, residual_then_act };

struct Epilogue {
  Activation act = Activation::none;
  bool residual = false;
  ResidualOrder order = ResidualOrder::act_then_residual;  // with a residual

  // Whether the residual is added before the activation (with no
  // activation the two orders are the same sum).
  constexpr bool residual_first() const {
    return residual && (order == ResidualOrder::residual_then_act || act == Activation::none);
  }
};

}  // namespace visionrt
