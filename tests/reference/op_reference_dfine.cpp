// Double-precision references of D-FINE's decoder's ops.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "reference/op_reference.hpp"

namespace visionrt::reference {
namespace {

// Softmax of n logits; NaN everywhere when any is NaN or +inf or all are
// -inf (the max-subtracted form's sum is then NaN), as torch gives.
std::vector<double> side_softmax(const double* x, int64_t n) {
  double m = -INFINITY;
  bool nan = false;
  for (int64_t i = 0; i < n; ++i) {
    nan = nan || std::isnan(x[i]);
    m = std::max(m, x[i]);
  }
  std::vector<double> p(static_cast<size_t>(n));
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += p[size_t(i)] = std::exp(x[i] - m);
  for (double& v : p) v = nan ? NAN : v / sum;
  return p;
}

}  // namespace

std::vector<double> mul(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = a[i] * b[i];
  return out;
}

std::vector<double> slice_last(int64_t cols, int64_t offset, int64_t width, const std::vector<double>& x) {
  std::vector<double> out;
  for (size_t r = 0; r < x.size() / size_t(cols); ++r)
    out.insert(out.end(), x.begin() + int64_t(r) * cols + offset, x.begin() + int64_t(r) * cols + offset + width);
  return out;
}

std::vector<double> dfine_weighting_function(int bins, double up, double reg_scale) {
  const double ub1 = std::abs(up) * std::abs(reg_scale), ub2 = 2 * ub1;
  std::vector<double> w = {-ub2};
  if (bins > 2) {
    const double step = std::pow(ub1 + 1, 2.0 / double(bins - 2));
    for (int i = bins / 2 - 1; i >= 1; --i) w.push_back(-std::pow(step, i) + 1);
    w.push_back(0.0);
    for (int i = 1; i <= bins / 2 - 1; ++i) w.push_back(std::pow(step, i) - 1);
  } else {
    w.push_back(0.0);
  }
  w.push_back(ub2);
  return w;
}

std::vector<double> fdr_boxes(int64_t rows, int bins, double up, double reg_scale, const std::vector<double>& corners,
                              const std::vector<double>& boxes) {
  const std::vector<double> w = dfine_weighting_function(bins, up, reg_scale);
  const int64_t n = bins + 1;
  const double rs = std::abs(reg_scale);
  std::vector<double> out;
  for (int64_t r = 0; r < rows; ++r) {
    double d[4];
    for (int s = 0; s < 4; ++s) {
      const std::vector<double> p = side_softmax(&corners[size_t((r * 4 + s) * n)], n);
      d[s] = 0.0;
      for (int64_t i = 0; i < n; ++i) d[s] += p[size_t(i)] * w[size_t(i)];
    }
    const double* b = &boxes[size_t(r * 4)];
    const double x1 = b[0] - (0.5 * rs + d[0]) * (b[2] / rs), y1 = b[1] - (0.5 * rs + d[1]) * (b[3] / rs);
    const double x2 = b[0] + (0.5 * rs + d[2]) * (b[2] / rs), y2 = b[1] + (0.5 * rs + d[3]) * (b[3] / rs);
    for (double v : {(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1}) out.push_back(v);
  }
  return out;
}

std::vector<double> lqe_stat(int64_t rows, int bins, int count, const std::vector<double>& corners) {
  const int64_t n = bins + 1;
  std::vector<double> out;
  for (int64_t s = 0; s < rows * 4; ++s) {
    std::vector<double> p = side_softmax(&corners[size_t(s * n)], n);
    // Greatest first; NaN (a whole side at once) ranks above everything.
    std::stable_sort(p.begin(), p.end(), [](double a, double b) {
      return (std::isnan(a) && !std::isnan(b)) || a > b;
    });
    double sum = 0.0;
    for (int j = 0; j < count; ++j) {
      out.push_back(p[size_t(j)]);
      sum += p[size_t(j)];
    }
    out.push_back(sum / count);
  }
  return out;
}

}  // namespace visionrt::reference
