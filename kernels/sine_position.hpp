// DETR's 2-D sine position encoding on the GPU, as transformers'
// DetrSinePositionEmbedding computes it from a pixel mask (1 = image, 0 = padding):
//   y_embed = cumulative sum of the mask down each column, x_embed along each row;
//   normalised: embed = (embed + offset) / (last value of that column/row + eps) * scale;
//   dim_t[i] = temperature ^ (2 * floor(i / 2) / num_pos_feats), i < num_pos_feats;
//   channel i of a half: sin(embed / dim_t[i]) for even i, cos(embed / dim_t[i]) for odd i;
//   the y half first (channels 0 .. F-1), then the x half (F .. 2F-1).
// DETR uses offset 0 (Deformable DETR uses -0.5). The output is channels-last,
// [batch, height * width, 2 * num_pos_feats], the layout the flattened
// feature map it is added to has, rather than transformers' [B, 2F, H, W].
#pragma once
#include <string>

#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

struct SinePositionParams {
  DType dtype = DType::f32;  // of the output
  int batch = 0, height = 0, width = 0;
  int num_pos_feats = 128;  // F, channels per axis (even); DETR: d_model / 2
  const float* mask = nullptr;  // optional [batch, height, width]; null = no padding
  float temperature = 10000.f;
  bool normalize = true;
  float scale = 6.283185307179586f;  // 2 pi
  float offset = 0.f;
  float eps = 1e-6f;
  void* output = nullptr;
  void* stream = nullptr;  // cudaStream_t
};

// Widths up to kMaxSinePositionWidth and F up to kMaxSinePositionFeats.
constexpr int kMaxSinePositionWidth = 2048;
constexpr int kMaxSinePositionFeats = 1024;

bool can_implement(const SinePositionParams& p, std::string* why);

// Enqueues the encoding on p.stream; throws visionrt::Error (unsupported,
// device_error) like every launcher here.
void sine_position(const SinePositionParams& p);

}  // namespace visionrt::kernels
