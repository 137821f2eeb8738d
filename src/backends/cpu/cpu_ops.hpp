// CPU kernels for the ops in graph/ops.hpp (fp32, multi-threaded; cast
// converts between F32, F16 and BF16). cpu_backend.cpp holds their table.
#pragma once
#include <cstddef>
#include <string>

#include "runtime/backend.hpp"
#include "backends/cpu/isa/cpu_isa.hpp"

namespace visionrt::cpu {

// The activations every op with a fused epilogue shares, one value at a
// time: the reference the vector ones (isa_kernels().activate) are tested on.
float apply_activation(Activation act, float x);

// A linear's or conv2d's epilogue on one output row already holding xW:
// bias, then activation and residual in the node's order. res may be null.
void apply_epilogue(const Epilogue& e, float* row, const float* bias, const float* res, int64_t n);

void patch_embed(const KernelArgs& a);
void embed_tokens(const KernelArgs& a);
void mean_tokens(const KernelArgs& a);
void slice_tokens(const KernelArgs& a);
void layer_norm(const KernelArgs& a);  // on best_isa()
void ms_deform_attn(const KernelArgs& a);  // on best_isa()
void linear(const KernelArgs& a);
void attention(const KernelArgs& a);
void activation(const KernelArgs& a);  // on best_isa()
void add(const KernelArgs& a);
void select_token(const KernelArgs& a);
void nchw_to_nhwc(const KernelArgs& a);
void copy(const KernelArgs& a);  // same elements, another shape
void conv2d(const KernelArgs& a);
void max_pool(const KernelArgs& a);
void mask_resize(const KernelArgs& a);
void sine_position(const KernelArgs& a);  // on best_isa()
void sine_position_on(Isa isa, const KernelArgs& a);
void cast(const KernelArgs& a);
void expand(const KernelArgs& a);
void zeros_like(const KernelArgs& a);
void resample_position(const KernelArgs& a);
// cpu_detection.cpp: the real-time DETRs' ops.
void avg_pool(const KernelArgs& a);
void upsample_nearest(const KernelArgs& a);
void concat(const KernelArgs& a);
void grid_sincos_position(const KernelArgs& a);
void anchor_boxes(const KernelArgs& a);
void mask_invalid_anchors(const KernelArgs& a);
void gather_top_k(const KernelArgs& a);
void inverse_sigmoid(const KernelArgs& a);
// cpu_hgnet.cpp: D-FINE's backbone's pad and affine.
void pad_spatial(const KernelArgs& a);
void affine(const KernelArgs& a);
// cpu_conv.cpp: conv2d with groups == Ci == Co, fp32 whatever the products'
// dtype; the dense kernels (im2col + GEMM, oneDNN) refuse groups != 1.
void depthwise_conv2d(const KernelArgs& a);
size_t depthwise_conv2d_workspace(const NodeSignature& sig, int threads);
bool depthwise_conv2d_can_implement(const NodeSignature& sig, std::string* why);
bool dense_conv2d_can_implement(const NodeSignature& sig, std::string* why);
// cpu_dfine.cpp: D-FINE's decoder's ops.
void mul(const KernelArgs& a);
void slice_last(const KernelArgs& a);
void fdr_boxes(const KernelArgs& a);
void lqe_stat(const KernelArgs& a);

size_t patch_embed_workspace(const NodeSignature& sig, int threads);
size_t conv2d_workspace(const NodeSignature& sig, int threads);
size_t sine_position_workspace(const NodeSignature& sig, int threads);
size_t resample_position_workspace(const NodeSignature& sig, int threads);
size_t attention_workspace(const NodeSignature& sig, int threads);
size_t gather_top_k_workspace(const NodeSignature& sig, int threads);

}  // namespace visionrt::cpu
