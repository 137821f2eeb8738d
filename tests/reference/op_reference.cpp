// Straightforward double-precision references: no tiling, no online softmax,
// no fused epilogues.
#include "reference/op_reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/half.hpp"

namespace visionrt::reference {

double gelu_erf(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

double gelu_tanh(double x) {
  const double c = std::sqrt(2.0 / 3.14159265358979323846);
  return 0.5 * x * (1.0 + std::tanh(c * (x + 0.044715 * x * x * x)));
}

double relu(double x) { return x > 0.0 ? x : 0.0; }

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

double activation(Activation a, double x) {
  switch (a) {
    case Activation::none: return x;
    case Activation::gelu_erf: return gelu_erf(x);
    case Activation::gelu_tanh: return gelu_tanh(x);
    case Activation::relu: return relu(x);
    case Activation::sigmoid: return sigmoid(x);
    case Activation::silu: return x * sigmoid(x);
  }
  return std::numeric_limits<double>::quiet_NaN();
}

std::vector<double> add(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = a[i] + b[i];
  return out;
}

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

std::vector<double> attention(const AttentionShape& s, const std::vector<double>& q,
                              const std::vector<double>& k, const std::vector<double>& v,
                              const std::vector<double>& mask) {
  const int64_t width = int64_t(s.heads) * s.head_dim;
  std::vector<double> out(size_t(s.batch) * s.q_len * width, 0.0);
  std::vector<double> scores(s.kv_len);
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads; ++h)
      for (int i = 0; i < s.q_len; ++i) {
        const double* qi = &q[(int64_t(b) * s.q_len + i) * s.q_stride + s.q_offset + h * s.head_dim];
        for (int j = 0; j < s.kv_len; ++j) {
          if (!mask.empty() && mask[size_t(b) * s.kv_len + j] == 0.0) {
            scores[j] = -std::numeric_limits<double>::infinity();
            continue;
          }
          const double* kj =
              &k[(int64_t(b) * s.kv_len + j) * s.k_stride + s.k_offset + h * s.head_dim];
          double dot = 0.0;
          for (int d = 0; d < s.head_dim; ++d) dot += qi[d] * kj[d];
          scores[j] = dot * s.scale;
        }
        // All keys padded: softmax gives zeros, and so does the output row.
        const std::vector<double> p = softmax(1, s.kv_len, scores);
        double* o = &out[(int64_t(b) * s.q_len + i) * width + h * s.head_dim];
        for (int j = 0; j < s.kv_len; ++j) {
          if (p[j] == 0.0) continue;  // a padded key's V row is never read
          const double* vj =
              &v[(int64_t(b) * s.kv_len + j) * s.v_stride + s.v_offset + h * s.head_dim];
          for (int d = 0; d < s.head_dim; ++d) o[d] += p[j] * vj[d];
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

std::vector<double> sine_position(const SineShape& s, const std::vector<double>& mask,
                                  std::vector<double>* args) {
  const int channels = 2 * s.feats;
  std::vector<double> out(size_t(s.batch) * s.height * s.width * channels);
  if (args) args->assign(out.size(), 0.0);
  auto m = [&](int b, int y, int x) {
    return mask.empty() ? 1.0 : mask[(size_t(b) * s.height + y) * s.width + x];
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

std::vector<double> linear(int64_t m, int64_t n, int64_t k, const std::vector<double>& x,
                           const std::vector<double>& w, const std::vector<double>& bias,
                           const std::vector<double>& residual, std::vector<double>* abs_terms) {
  std::vector<double> out(size_t(m * n));
  if (abs_terms) abs_terms->assign(size_t(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const double* xi = &x[size_t(i * k)];
      const double* wj = &w[size_t(j * k)];
      double sum = 0.0, mag = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        sum += xi[p] * wj[p];
        mag += std::abs(xi[p] * wj[p]);
      }
      if (!bias.empty()) {
        sum += bias[size_t(j)];
        mag += std::abs(bias[size_t(j)]);
      }
      if (!residual.empty()) {
        sum += residual[size_t(i * n + j)];
        mag += std::abs(residual[size_t(i * n + j)]);
      }
      out[size_t(i * n + j)] = sum;
      if (abs_terms) (*abs_terms)[size_t(i * n + j)] = mag;
    }
  return out;
}

std::vector<double> epilogue(std::vector<double> sum, int64_t channels, const std::vector<double>& bias,
                             Activation act, ResidualOrder order,
                             const std::vector<double>& residual) {
  const bool residual_first = order == ResidualOrder::residual_then_act;
  for (size_t i = 0; i < sum.size(); ++i) {
    double t = sum[i] + (bias.empty() ? 0.0 : bias[i % size_t(channels)]);
    const double r = residual.empty() ? 0.0 : residual[i];
    if (residual_first) t += r;
    t = activation(act, t);
    if (!residual_first) t += r;
    sum[i] = t;
  }
  return sum;
}

std::vector<double> embed_tokens(int64_t batch, int64_t tokens, int64_t dim, int64_t prefix_rows,
                                 const std::vector<double>& input, const std::vector<double>& prefix,
                                 const std::vector<double>& pos) {
  const int64_t rows = prefix_rows + tokens;
  std::vector<double> out(size_t(batch * rows * dim));
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t s = 0; s < rows; ++s)
      for (int64_t d = 0; d < dim; ++d) {
        const int64_t t = s - prefix_rows;
        out[(n * rows + s) * dim + d] =
            s < prefix_rows ? prefix[s * dim + d] : input[(n * tokens + t) * dim + d] + pos[t * dim + d];
      }
  return out;
}

std::vector<double> mean_tokens(int64_t batch, int64_t tokens, int64_t dim, int64_t first,
                                const std::vector<double>& x) {
  std::vector<double> out(size_t(batch * dim), 0.0);
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t d = 0; d < dim; ++d) {
      double sum = 0.0;
      for (int64_t s = first; s < tokens; ++s) sum += x[(n * tokens + s) * dim + d];
      out[n * dim + d] = sum / double(tokens - first);
    }
  return out;
}

std::vector<double> slice_tokens(int64_t batch, int64_t tokens, int64_t dim, int64_t first, int64_t count,
                                 const std::vector<double>& x) {
  std::vector<double> out;
  for (int64_t n = 0; n < batch; ++n)
    out.insert(out.end(), x.begin() + (n * tokens + first) * dim, x.begin() + (n * tokens + first + count) * dim);
  return out;
}

std::vector<double> select_token(int64_t batch, int64_t tokens, int64_t dim, int64_t index,
                                 const std::vector<double>& x) {
  std::vector<double> out(size_t(batch * dim));
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t d = 0; d < dim; ++d) out[n * dim + d] = x[(n * tokens + index) * dim + d];
  return out;
}

std::vector<double> cast(DType to, const std::vector<double>& values) {
  std::vector<double> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const float f = static_cast<float>(values[i]);
    switch (to) {
      case DType::f32:
        out[i] = f;
        break;
      case DType::f16:
        out[i] = half_to_float(float_to_half(f));
        break;
      case DType::bf16:
        out[i] = bf16_to_float(float_to_bf16(f));
        break;
    }
  }
  return out;
}

std::vector<double> zeros_like(size_t count) { return std::vector<double>(count, 0.0); }

namespace {

// PyTorch's cubic convolution weights (A = -0.75) of the taps at -1..2.
void cubic_weights(double t, double w[4]) {
  constexpr double A = -0.75;
  auto near = [](double x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
  auto far = [](double x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
  w[0] = far(t + 1);
  w[1] = near(t);
  w[2] = near(1 - t);
  w[3] = far(2 - t);
}

}  // namespace

// One axis of torch's antialiased bicubic: per output index, the first
// tap and the normalised weights.
struct AaTaps {
  std::vector<int> first;
  std::vector<std::vector<double>> w;
};

AaTaps aa_taps(int in, int out) {
  const float scale = static_cast<float>(in) / out;
  const float support = scale >= 1.f ? 2.f * scale : 2.f;
  const double invscale = scale >= 1.f ? 1.0 / scale : 1.0;
  auto filter = [](double x) {
    constexpr double A = -0.5;
    x = std::abs(x);
    if (x < 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
    if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    return 0.0;
  };
  AaTaps t;
  for (int o = 0; o < out; ++o) {
    const float center = scale * (o + 0.5f);
    const int lo = std::max(static_cast<int>(center - support + 0.5f), 0);
    const int n = std::min(static_cast<int>(center + support + 0.5f), in) - lo;
    std::vector<double> w(size_t(std::max(n, 0)));
    double total = 0;
    for (int j = 0; j < n; ++j) total += w[j] = filter((j + lo - double(center) + 0.5) * invscale);
    if (total != 0)
      for (double& v : w) v /= total;
    t.first.push_back(lo);
    t.w.push_back(std::move(w));
  }
  return t;
}

std::vector<double> resample_antialiased(int in_w, int out_h, int out_w, int64_t dim, const AaTaps& ty,
                                         const AaTaps& tx, const std::vector<double>& grid,
                                         std::vector<double>* abs_taps) {
  std::vector<double> out(size_t(int64_t(out_h) * out_w * dim));
  for (int oy = 0; oy < out_h; ++oy)
    for (int ox = 0; ox < out_w; ++ox)
      for (int64_t d = 0; d < dim; ++d) {
        double acc = 0, mag = 0;
        for (size_t i = 0; i < ty.w[oy].size(); ++i)
          for (size_t j = 0; j < tx.w[ox].size(); ++j) {
            const double v = grid[(int64_t(ty.first[oy] + int(i)) * in_w + tx.first[ox] + int(j)) * dim + d];
            acc += ty.w[oy][i] * tx.w[ox][j] * v;
            mag += std::abs(v);
          }
        const size_t idx = size_t((int64_t(oy) * out_w + ox) * dim + d);
        out[idx] = acc;
        if (abs_taps) (*abs_taps)[idx] = mag;
      }
  return out;
}

std::vector<double> resample_position(int in_h, int in_w, int out_h, int out_w, int64_t dim,
                                      const std::vector<double>& table,
                                      std::vector<double>* abs_taps, bool antialias) {
  std::vector<double> out(size_t(int64_t(out_h) * out_w * dim));
  if (abs_taps) abs_taps->assign(out.size(), 0.0);
  if (antialias)
    return resample_antialiased(in_w, out_h, out_w, dim, aa_taps(in_h, out_h), aa_taps(in_w, out_w), table, abs_taps);
  const double* grid = table.data();
  // The coordinate is computed in float, as PyTorch and the CPU backend do,
  // so that the floor picks the same taps.
  const float sy = static_cast<float>(in_h) / out_h, sx = static_cast<float>(in_w) / out_w;
  for (int oy = 0; oy < out_h; ++oy)
    for (int ox = 0; ox < out_w; ++ox) {
      const float fy = sy * (oy + 0.5f) - 0.5f, fx = sx * (ox + 0.5f) - 0.5f;
      const float fy0 = std::floor(fy), fx0 = std::floor(fx);
      double wy[4], wx[4];
      cubic_weights(double(fy) - fy0, wy);
      cubic_weights(double(fx) - fx0, wx);
      for (int64_t d = 0; d < dim; ++d) {
        double acc = 0.0, mag = 0.0;
        for (int i = 0; i < 4; ++i) {
          const int y = std::min(std::max(int(fy0) - 1 + i, 0), in_h - 1);
          for (int j = 0; j < 4; ++j) {
            const int x = std::min(std::max(int(fx0) - 1 + j, 0), in_w - 1);
            const double v = grid[(int64_t(y) * in_w + x) * dim + d];
            acc += wy[i] * wx[j] * v;
            mag += std::abs(v);
          }
        }
        const size_t idx = size_t((int64_t(oy) * out_w + ox) * dim + d);
        out[idx] = acc;
        if (abs_taps) (*abs_taps)[idx] = mag;
      }
    }
  return out;
}

std::vector<double> conv2d(const ConvGeometry& s, const std::vector<double>& x,
                           const std::vector<double>& weight, std::vector<double>* abs_terms) {
  const int64_t ho = s.out_h(), wo = s.out_w();
  // Input channels per group, and output channels per group.
  const int64_t cig = s.ci / s.groups, cog = s.co / s.groups;
  std::vector<double> out(size_t(s.n * ho * wo * s.co), 0.0);
  if (abs_terms) abs_terms->assign(out.size(), 0.0);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox)
        for (int64_t co = 0; co < s.co; ++co) {
          double acc = 0.0, mag = 0.0;
          const int64_t first = co / cog * cig;  // the group's first input channel
          for (int64_t ky = 0; ky < s.kh; ++ky) {
            const int64_t iy = oy * s.stride - s.pad + ky * s.dilation;
            if (iy < 0 || iy >= s.h) continue;
            for (int64_t kx = 0; kx < s.kw; ++kx) {
              const int64_t ix = ox * s.stride - s.pad + kx * s.dilation;
              if (ix < 0 || ix >= s.w) continue;
              const double* xp = &x[size_t(((n * s.h + iy) * s.w + ix) * s.ci + first)];
              const double* wp = &weight[size_t(((co * s.kh + ky) * s.kw + kx) * cig)];
              for (int64_t ci = 0; ci < cig; ++ci) {
                acc += xp[ci] * wp[ci];
                mag += std::abs(xp[ci] * wp[ci]);
              }
            }
          }
          const size_t idx = size_t(((n * ho + oy) * wo + ox) * s.co + co);
          out[idx] = acc;
          if (abs_terms) (*abs_terms)[idx] = mag;
        }
  return out;
}

std::vector<double> max_pool(int64_t n, int64_t h, int64_t w, int64_t c, int kernel, int stride,
                             int pad, const std::vector<double>& x) {
  const int64_t ho = (h + 2 * pad - kernel) / stride + 1, wo = (w + 2 * pad - kernel) / stride + 1;
  std::vector<double> out(size_t(n * ho * wo * c), -std::numeric_limits<double>::infinity());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox)
        for (int ky = 0; ky < kernel; ++ky) {
          const int64_t iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= h) continue;
          for (int kx = 0; kx < kernel; ++kx) {
            const int64_t ix = ox * stride - pad + kx;
            if (ix < 0 || ix >= w) continue;
            for (int64_t ch = 0; ch < c; ++ch) {
              double& o = out[size_t(((b * ho + oy) * wo + ox) * c + ch)];
              o = std::max(o, x[size_t(((b * h + iy) * w + ix) * c + ch)]);
            }
          }
        }
  return out;
}

std::vector<double> mask_resize(int64_t n, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w,
                                const std::vector<double>& mask) {
  const float sy = static_cast<float>(in_h) / static_cast<float>(out_h);
  const float sx = static_cast<float>(in_w) / static_cast<float>(out_w);
  std::vector<double> out(size_t(n * out_h * out_w));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t y = 0; y < out_h; ++y) {
      const int64_t iy = std::min<int64_t>(int64_t(std::floor(static_cast<float>(y) * sy)), in_h - 1);
      for (int64_t x = 0; x < out_w; ++x) {
        const int64_t ix = std::min<int64_t>(int64_t(std::floor(static_cast<float>(x) * sx)), in_w - 1);
        out[size_t((b * out_h + y) * out_w + x)] = mask[size_t((b * in_h + iy) * in_w + ix)] != 0.0 ? 1.0 : 0.0;
      }
    }
  return out;
}

std::vector<double> flatten_spatial(const std::vector<double>& x) { return x; }

std::vector<double> ms_deform_attn(const DeformShape& s, const std::vector<double>& value,
                                   const std::vector<double>& locations, const std::vector<double>& weights) {
  const int64_t levels = int64_t(s.level_h.size()), dim = s.heads * s.head_dim;
  int64_t cells = 0, points = 0;
  std::vector<int64_t> start;
  for (int64_t l = 0; l < levels; ++l) {
    start.push_back(cells);
    cells += s.level_h[l] * s.level_w[l];
    points += s.level_points[l];
  }
  std::vector<double> out(size_t(s.batch * s.queries * dim), 0.0);
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t q = 0; q < s.queries; ++q)
      for (int64_t h = 0; h < s.heads; ++h) {
        double* o = &out[size_t(((b * s.queries + q) * s.heads + h) * s.head_dim)];
        // Value channel c of cell (y, x) of level l, or 0 outside the map.
        auto at = [&](int64_t l, int64_t y, int64_t x, int64_t c) {
          if (y < 0 || y >= s.level_h[l] || x < 0 || x >= s.level_w[l]) return 0.0;
          return value[size_t(((b * cells + start[l] + y * s.level_w[l] + x) * s.heads + h) * s.head_dim + c)];
        };
        int64_t p = 0;
        for (int64_t l = 0; l < levels; ++l)
          for (int64_t k = 0; k < s.level_points[l]; ++k, ++p) {
            const size_t i = size_t((b * s.queries + q) * s.heads * points + h * points + p);
            const double lx = locations[2 * i], ly = locations[2 * i + 1], w = weights[i];
            const int64_t H = s.level_h[l], W = s.level_w[l];
            if (s.discrete) {
              auto cell = [](double loc, int64_t n) {
                const double v = double(float(float(loc) * float(n)) + 0.5f);  // torch: fp32 product and sum
                // Below 1 truncation and the clamp give 0; so does NaN, and
                // anything past int64 (x86's conversion gives INT64_MIN).
                if (!(v >= 1.0) || !(v < 9.2233720368547758e18)) return int64_t(0);
                return std::min(int64_t(v), n - 1);
              };
              const int64_t x = cell(lx, W), y = cell(ly, H);
              for (int64_t c = 0; c < s.head_dim; ++c) o[c] += w * at(l, y, x, c);
              continue;
            }
            const double x = lx * W - 0.5, y = ly * H - 0.5;
            if (!(x > -1.0 && x < double(W) && y > -1.0 && y < double(H))) continue;  // every tap outside, or NaN
            const int64_t x0 = int64_t(std::floor(x)), y0 = int64_t(std::floor(y));
            const double fx = x - double(x0), fy = y - double(y0);
            for (int64_t c = 0; c < s.head_dim; ++c)
              o[c] += w * ((1 - fy) * ((1 - fx) * at(l, y0, x0, c) + fx * at(l, y0, x0 + 1, c)) +
                           fy * ((1 - fx) * at(l, y0 + 1, x0, c) + fx * at(l, y0 + 1, x0 + 1, c)));
          }
      }
  return out;
}

}  // namespace visionrt::reference
