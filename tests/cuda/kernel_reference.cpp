// Straightforward double-precision references: no tiling, no online softmax.
#include "kernel_reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace visionrt::kernels::reference {

std::vector<double> attention(const AttentionShape& s, const std::vector<double>& q,
                              const std::vector<double>& k, const std::vector<double>& v,
                              const std::vector<float>* mask) {
  const int64_t width = int64_t(s.heads) * s.head_dim;
  std::vector<double> out(size_t(s.batch) * s.q_len * width, 0.0);
  std::vector<double> scores(s.kv_len);
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads; ++h)
      for (int i = 0; i < s.q_len; ++i) {
        const double* qi = &q[(int64_t(b) * s.q_len + i) * s.q_stride + s.q_offset + h * s.head_dim];
        double mx = -std::numeric_limits<double>::infinity();
        for (int j = 0; j < s.kv_len; ++j) {
          if (mask && (*mask)[size_t(b) * s.kv_len + j] == 0.f) {
            scores[j] = -std::numeric_limits<double>::infinity();
            continue;
          }
          const double* kj =
              &k[(int64_t(b) * s.kv_len + j) * s.k_stride + s.k_offset + h * s.head_dim];
          double dot = 0.0;
          for (int d = 0; d < s.head_dim; ++d) dot += qi[d] * kj[d];
          scores[j] = dot * s.scale;
          mx = std::max(mx, scores[j]);
        }
        double* o = &out[(int64_t(b) * s.q_len + i) * width + h * s.head_dim];
        if (mx == -std::numeric_limits<double>::infinity()) continue;  // all keys padded
        double sum = 0.0;
        for (int j = 0; j < s.kv_len; ++j) {
          scores[j] = std::exp(scores[j] - mx);
          sum += scores[j];
        }
        for (int j = 0; j < s.kv_len; ++j) {
          if (scores[j] == 0.0) continue;
          const double* vj =
              &v[(int64_t(b) * s.kv_len + j) * s.v_stride + s.v_offset + h * s.head_dim];
          for (int d = 0; d < s.head_dim; ++d) o[d] += scores[j] / sum * vj[d];
        }
      }
  return out;
}

std::vector<double> layer_norm(int64_t rows, int64_t cols, const std::vector<double>& x,
                               const std::vector<double>& gamma, const std::vector<double>& beta,
                               double eps) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    const double* v = &x[r * cols];
    double sum = 0.0;
    for (int64_t c = 0; c < cols; ++c) sum += v[c];
    const double mean = sum / cols;
    double sq = 0.0;
    for (int64_t c = 0; c < cols; ++c) sq += (v[c] - mean) * (v[c] - mean);
    const double rstd = 1.0 / std::sqrt(sq / cols + eps);
    for (int64_t c = 0; c < cols; ++c) y[r * cols + c] = (v[c] - mean) * rstd * gamma[c] + beta[c];
  }
  return y;
}

double gelu_erf(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

std::vector<double> softmax(int64_t rows, int64_t cols, const std::vector<double>& x) {
  std::vector<double> y(x.size(), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const double* v = &x[r * cols];
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t c = 0; c < cols; ++c) mx = std::max(mx, v[c]);
    if (mx == -std::numeric_limits<double>::infinity()) continue;
    double sum = 0.0;
    for (int64_t c = 0; c < cols; ++c) sum += std::exp(v[c] - mx);
    for (int64_t c = 0; c < cols; ++c) y[r * cols + c] = std::exp(v[c] - mx) / sum;
  }
  return y;
}

std::vector<double> patch_embed(const PatchShape& s, const std::vector<double>& pixels,
                                const std::vector<double>& weight, const std::vector<double>& bias,
                                const std::vector<double>& cls, const std::vector<double>& pos,
                                std::vector<double>* abs_terms) {
  const int gh = s.height / s.patch, gw = s.width / s.patch;
  const int first = cls.empty() ? 0 : 1, tokens = first + gh * gw;
  std::vector<double> out(size_t(s.batch) * tokens * s.dim);
  if (abs_terms) abs_terms->assign(out.size(), 0.0);
  for (int n = 0; n < s.batch; ++n)
    for (int t = 0; t < tokens; ++t)
      for (int d = 0; d < s.dim; ++d) {
        double acc = 0.0, mag = 0.0;
        if (t < first) {
          acc = cls[d];
          mag = std::abs(cls[d]);
        } else {
          const int py = (t - first) / gw, px = (t - first) % gw;
          for (int c = 0; c < s.channels; ++c)
            for (int i = 0; i < s.patch; ++i)
              for (int j = 0; j < s.patch; ++j) {
                const double w = weight[((int64_t(d) * s.channels + c) * s.patch + i) * s.patch + j];
                const double x = pixels[((int64_t(n) * s.channels + c) * s.height + py * s.patch + i) *
                                            s.width +
                                        px * s.patch + j];
                acc += w * x;
                mag += std::abs(w * x);
              }
          if (!bias.empty()) {
            acc += bias[d];
            mag += std::abs(bias[d]);
          }
        }
        if (!pos.empty()) {
          acc += pos[int64_t(t) * s.dim + d];
          mag += std::abs(pos[int64_t(t) * s.dim + d]);
        }
        const size_t idx = (size_t(n) * tokens + t) * s.dim + d;
        out[idx] = acc;
        if (abs_terms) (*abs_terms)[idx] = mag;
      }
  return out;
}

std::vector<double> sine_position(const SineShape& s, const std::vector<float>& mask,
                                  std::vector<double>* args) {
  const int channels = 2 * s.feats;
  std::vector<double> out(size_t(s.batch) * s.height * s.width * channels);
  if (args) args->assign(out.size(), 0.0);
  auto m = [&](int b, int y, int x) {
    return mask.empty() ? 1.0 : double(mask[(size_t(b) * s.height + y) * s.width + x]);
  };
  for (int b = 0; b < s.batch; ++b)
    for (int y = 0; y < s.height; ++y)
      for (int x = 0; x < s.width; ++x) {
        double ycum = 0, ytotal = 0, xcum = 0, xtotal = 0;
        for (int yy = 0; yy < s.height; ++yy) {
          ytotal += m(b, yy, x);
          if (yy <= y) ycum += m(b, yy, x);
        }
        for (int xx = 0; xx < s.width; ++xx) {
          xtotal += m(b, y, xx);
          if (xx <= x) xcum += m(b, y, xx);
        }
        if (s.normalize) {
          ycum = (ycum + s.offset) / (ytotal + s.eps) * s.scale;
          xcum = (xcum + s.offset) / (xtotal + s.eps) * s.scale;
        }
        for (int c = 0; c < channels; ++c) {
          const int i = c < s.feats ? c : c - s.feats;
          const double dim_t = std::pow(s.temperature, 2.0 * (i / 2) / s.feats);
          const double arg = (c < s.feats ? ycum : xcum) / dim_t;
          const size_t idx = ((size_t(b) * s.height + y) * s.width + x) * channels + c;
          out[idx] = i % 2 == 0 ? std::sin(arg) : std::cos(arg);
          if (args) (*args)[idx] = arg;
        }
      }
  return out;
}

}  // namespace visionrt::kernels::reference
