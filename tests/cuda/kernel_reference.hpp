// CPU references for the CUDA kernels, computed in double from the same
// (already rounded) inputs the kernels read.
#pragma once
#include <cstdint>
#include <vector>

namespace visionrt::kernels::reference {

// Attention over strided Q/K/V buffers laid out as the kernel reads them:
// row (b, s) of Q starts at q[(b * q_len + s) * q_stride + q_offset].
struct AttentionShape {
  int batch = 0, heads = 0, head_dim = 0, q_len = 0, kv_len = 0;
  int64_t q_stride = 0, k_stride = 0, v_stride = 0;
  int64_t q_offset = 0, k_offset = 0, v_offset = 0;
  double scale = 0.0;
};

// Returns [batch, q_len, heads * head_dim]; rows whose keys are all masked
// (mask [batch, kv_len], 0 = padded) are zeros.
std::vector<double> attention(const AttentionShape& s, const std::vector<double>& q,
                              const std::vector<double>& k, const std::vector<double>& v,
                              const std::vector<float>* mask);

// Two-pass LayerNorm of each row of x [rows, cols].
std::vector<double> layer_norm(int64_t rows, int64_t cols, const std::vector<double>& x,
                               const std::vector<double>& gamma, const std::vector<double>& beta,
                               double eps);

double gelu_erf(double x);

// Row softmax; -inf entries get 0, an all -inf row gives zeros.
std::vector<double> softmax(int64_t rows, int64_t cols, const std::vector<double>& x);

// Patch embedding as the strided convolution plus class token and position
// embedding (any of bias, cls, pos may be empty). Returns [batch, tokens, dim].
// When abs_terms is given it receives, per output, the sum of the absolute
// values of every term that makes it up (the scale of its rounding error).
struct PatchShape {
  int batch = 0, channels = 0, height = 0, width = 0, patch = 0, dim = 0;
};
std::vector<double> patch_embed(const PatchShape& s, const std::vector<double>& pixels,
                                const std::vector<double>& weight, const std::vector<double>& bias,
                                const std::vector<double>& cls, const std::vector<double>& pos,
                                std::vector<double>* abs_terms);

// DETR sine position encoding, [batch, height * width, 2 * feats], mask
// [batch, height, width] (empty: no padding). `args` receives each output's
// sine/cosine argument.
struct SineShape {
  int batch = 0, height = 0, width = 0, feats = 0;
  double temperature = 10000.0, scale = 0.0, offset = 0.0, eps = 1e-6;
  bool normalize = true;
};
std::vector<double> sine_position(const SineShape& s, const std::vector<float>& mask,
                                  std::vector<double>* args);

}  // namespace visionrt::kernels::reference
