// Double-precision references of the real-time DETRs' ops.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numeric>

#include "reference/op_reference.hpp"

namespace visionrt::reference {

std::vector<double> ms_deform_attn_from_boxes(const DeformShape& s, double offset_scale,
                                              const std::vector<double>& value,
                                              const std::vector<double>& offsets,
                                              const std::vector<double>& logits,
                                              const std::vector<double>& boxes) {
  int64_t points = 0;
  for (int64_t p : s.level_points) points += p;
  std::vector<double> locations(offsets.size()), weights(logits.size());
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t q = 0; q < s.queries; ++q) {
      const double* box = &boxes[size_t((b * s.queries + q) * 4)];
      for (int64_t h = 0; h < s.heads; ++h) {
        const size_t row = size_t(((b * s.queries + q) * s.heads + h) * points);
        double top = -INFINITY, sum = 0.0;
        for (int64_t p = 0; p < points; ++p) top = std::max(top, logits[row + p]);
        for (int64_t p = 0; p < points; ++p) sum += std::exp(logits[row + p] - top);
        int64_t p = 0;
        for (size_t l = 0; l < s.level_points.size(); ++l)
          for (int64_t k = 0; k < s.level_points[l]; ++k, ++p) {
            const double n = double(s.level_points[l]);
            locations[2 * (row + p)] = box[0] + offsets[2 * (row + p)] / n * box[2] * offset_scale;
            locations[2 * (row + p) + 1] = box[1] + offsets[2 * (row + p) + 1] / n * box[3] * offset_scale;
            weights[row + p] = std::exp(logits[row + p] - top) / sum;
          }
      }
    }
  return ms_deform_attn(s, value, locations, weights);
}

std::vector<double> avg_pool(int64_t n, int64_t h, int64_t w, int64_t c, int kernel, int stride,
                             const std::vector<double>& x) {
  auto out_len = [&](int64_t len) {
    const int64_t o = (len - kernel + stride - 1) / stride + 1;
    return (o - 1) * stride >= len ? o - 1 : o;
  };
  const int64_t ho = out_len(h), wo = out_len(w);
  std::vector<double> out(size_t(n * ho * wo * c), 0.0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox)
        for (int64_t ch = 0; ch < c; ++ch) {
          double sum = 0.0;
          int64_t cells = 0;
          for (int64_t y = oy * stride; y < std::min<int64_t>(oy * stride + kernel, h); ++y)
            for (int64_t xx = ox * stride; xx < std::min<int64_t>(ox * stride + kernel, w); ++xx, ++cells)
              sum += x[size_t(((b * h + y) * w + xx) * c + ch)];
          out[size_t(((b * ho + oy) * wo + ox) * c + ch)] = sum / double(cells);
        }
  return out;
}

std::vector<double> upsample_nearest(int64_t n, int64_t h, int64_t w, int64_t c, int factor,
                                     const std::vector<double>& x) {
  std::vector<double> out;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t y = 0; y < h * factor; ++y)
      for (int64_t xx = 0; xx < w * factor; ++xx)
        for (int64_t ch = 0; ch < c; ++ch) out.push_back(x[size_t(((b * h + y / factor) * w + xx / factor) * c + ch)]);
  return out;
}

std::vector<double> concat(int64_t outer, int64_t a_block, int64_t b_block, const std::vector<double>& a,
                           const std::vector<double>& b) {
  std::vector<double> out;
  for (int64_t i = 0; i < outer; ++i) {
    out.insert(out.end(), a.begin() + i * a_block, a.begin() + (i + 1) * a_block);
    out.insert(out.end(), b.begin() + i * b_block, b.begin() + (i + 1) * b_block);
  }
  return out;
}

std::vector<double> grid_sincos_position(int64_t batch, int64_t h, int64_t w, int64_t dim, double temperature) {
  const int64_t f = dim / 4;
  std::vector<double> out;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        std::vector<double> row(static_cast<size_t>(dim));
        for (int64_t i = 0; i < f; ++i) {
          const double omega = std::pow(temperature, -double(i) / double(f));
          row[size_t(i)] = std::sin(double(y) * omega);
          row[size_t(f + i)] = std::cos(double(y) * omega);
          row[size_t(2 * f + i)] = std::sin(double(x) * omega);
          row[size_t(3 * f + i)] = std::cos(double(x) * omega);
        }
        out.insert(out.end(), row.begin(), row.end());
      }
  return out;
}

std::vector<double> anchor_boxes(int64_t batch, const std::vector<int64_t>& level_h,
                                 const std::vector<int64_t>& level_w) {
  std::vector<double> one;
  for (size_t l = 0; l < level_h.size(); ++l)
    for (int64_t y = 0; y < level_h[l]; ++y)
      for (int64_t x = 0; x < level_w[l]; ++x) {
        const double side = 0.05 * std::ldexp(1.0, int(l));
        const double box[4] = {(double(x) + 0.5) / double(level_w[l]), (double(y) + 0.5) / double(level_h[l]), side,
                               side};
        const float box32[4] = {(float(x) + 0.5f) / float(level_w[l]), (float(y) + 0.5f) / float(level_h[l]),
                                float(side), float(side)};
        bool valid = true;
        for (float v : box32) valid = valid && v > 0.01f && v < 0.99f;
        for (double v : box) one.push_back(valid ? std::log(v / (1.0 - v)) : double(FLT_MAX));
      }
  std::vector<double> out;
  for (int64_t b = 0; b < batch; ++b) out.insert(out.end(), one.begin(), one.end());
  return out;
}

std::vector<double> mask_invalid_anchors(int64_t rows, int64_t dim, const std::vector<double>& x,
                                         const std::vector<double>& anchors) {
  std::vector<double> out = x;
  for (int64_t r = 0; r < rows; ++r) {
    bool valid = true;
    for (int k = 0; k < 4; ++k) valid = valid && anchors[size_t(r * 4 + k)] < double(FLT_MAX);
    if (!valid) std::fill(out.begin() + r * dim, out.begin() + (r + 1) * dim, 0.0);
  }
  return out;
}

std::vector<double> gather_top_k(int64_t n, int64_t s, int64_t e, int64_t c, int64_t k,
                                 const std::vector<double>& x, const std::vector<double>& scores) {
  std::vector<double> out;
  for (int64_t b = 0; b < n; ++b) {
    std::vector<double> best(static_cast<size_t>(s));
    for (int64_t r = 0; r < s; ++r)
      best[size_t(r)] = *std::max_element(scores.begin() + (b * s + r) * c, scores.begin() + (b * s + r + 1) * c);
    std::vector<int64_t> order(static_cast<size_t>(s));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return best[size_t(i)] > best[size_t(j)]; });
    for (int64_t i = 0; i < k; ++i)
      out.insert(out.end(), x.begin() + (b * s + order[size_t(i)]) * e, x.begin() + (b * s + order[size_t(i)] + 1) * e);
  }
  return out;
}

std::vector<double> inverse_sigmoid(const std::vector<double>& x) {
  std::vector<double> out;
  for (double v : x) {
    const double c = std::min(std::max(v, 0.0), 1.0);
    out.push_back(std::log(std::max(c, 1e-5) / std::max(1.0 - c, 1e-5)));
  }
  return out;
}

std::vector<double> pad_spatial(int64_t n, int64_t h, int64_t w, int64_t c, int before, int after,
                                const std::vector<double>& x) {
  const int64_t ho = h + before + after, wo = w + before + after;
  std::vector<double> out(size_t(n * ho * wo * c), 0.0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t xx = 0; xx < w; ++xx)
        for (int64_t ch = 0; ch < c; ++ch)
          out[size_t(((b * ho + y + before) * wo + xx + before) * c + ch)] = x[size_t(((b * h + y) * w + xx) * c + ch)];
  return out;
}

std::vector<double> affine(double scale, double shift, double lo, double hi, const std::vector<double>& x) {
  std::vector<double> out;
  for (double v : x) {
    const double y = v * scale + shift;
    out.push_back(std::isnan(y) ? y : std::min(std::max(y, lo), hi));
  }
  return out;
}

}  // namespace visionrt::reference
