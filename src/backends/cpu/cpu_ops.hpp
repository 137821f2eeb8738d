// CPU implementations of the ops in graph/ops.hpp (fp32, multi-threaded).
#pragma once
#include <cstddef>
#include <vector>

#include "graph/ops.hpp"

namespace visionrt::cpu {

// The activations every op with a fused epilogue shares.
float apply_activation(graph::Activation act, float x);

void patch_embed(const graph::OpArgs& a);
void embed_tokens(const graph::OpArgs& a);
void layer_norm(const graph::OpArgs& a);
void linear(const graph::OpArgs& a);
void attention(const graph::OpArgs& a);
void activation(const graph::OpArgs& a);
void add(const graph::OpArgs& a);
void select_token(const graph::OpArgs& a);
void nchw_to_nhwc(const graph::OpArgs& a);
void copy(const graph::OpArgs& a);  // same elements, another shape
void conv2d(const graph::OpArgs& a);
void max_pool(const graph::OpArgs& a);
void mask_resize(const graph::OpArgs& a);
void sine_position(const graph::OpArgs& a);

size_t patch_embed_workspace(const std::vector<const Shape*>& in, const graph::Attrs& attrs, int threads);
size_t conv2d_workspace(const std::vector<const Shape*>& in, const graph::Attrs& attrs, int threads);
size_t sine_position_workspace(const std::vector<const Shape*>& in, const graph::Attrs& attrs, int threads);
size_t attention_workspace(const std::vector<const Shape*>& in, const graph::Attrs& attrs, int threads);

}  // namespace visionrt::cpu
