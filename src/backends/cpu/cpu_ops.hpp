// CPU implementations of the ops in graph/ops.hpp (fp32, multi-threaded).
#pragma once
#include <cstddef>
#include <vector>

#include "graph/ops.hpp"

namespace visionrt::cpu {

void patch_embed(const graph::OpArgs& a);
void embed_tokens(const graph::OpArgs& a);
void layer_norm(const graph::OpArgs& a);
void linear(const graph::OpArgs& a);
void attention(const graph::OpArgs& a);
void activation(const graph::OpArgs& a);
void add(const graph::OpArgs& a);
void select_token(const graph::OpArgs& a);

size_t patch_embed_workspace(const std::vector<const Shape*>& in, const graph::Attrs& attrs, int threads);
size_t attention_workspace(const std::vector<const Shape*>& in, const graph::Attrs& attrs, int threads);

}  // namespace visionrt::cpu
