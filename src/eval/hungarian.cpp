#include "eval/hungarian.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.hpp"

namespace visionrt::eval {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Working state of the solver for an nr x nc matrix with nr <= nc.
struct Solver {
  int64_t nr, nc;
  const std::vector<double>& cost;
  std::vector<double> u, v;                 // dual variables of rows and columns
  std::vector<double> shortest_path_costs;  // per column, in the current search
  std::vector<int64_t> path;                // per column: the row it was reached from
  std::vector<int64_t> col4row, row4col;    // the current partial assignment (-1: free)
  std::vector<char> row_seen, col_seen;     // SR and SC: visited in the current search
  std::vector<int64_t> remaining;           // columns not yet visited

  Solver(int64_t rows, int64_t cols, const std::vector<double>& c)
      : nr(rows),
        nc(cols),
        cost(c),
        u(rows, 0.0),
        v(cols, 0.0),
        shortest_path_costs(cols),
        path(cols, -1),
        col4row(rows, -1),
        row4col(cols, -1),
        row_seen(rows),
        col_seen(cols),
        remaining(cols) {}

  // Dijkstra-like search over reduced costs from the free row `i` to the
  // nearest free column (the sink). Returns the sink and sets *min_value to
  // the length of the shortest path.
  int64_t augmenting_path(int64_t i, double* min_value) {
    double min_val = 0;
    // Visiting columns from the highest index down, like scipy, makes the
    // choice among tied columns (and so the returned assignment) the same.
    int64_t num_remaining = nc;
    for (int64_t it = 0; it < nc; ++it) remaining[it] = nc - it - 1;
    std::fill(row_seen.begin(), row_seen.end(), 0);
    std::fill(col_seen.begin(), col_seen.end(), 0);
    std::fill(shortest_path_costs.begin(), shortest_path_costs.end(), kInfinity);

    int64_t sink = -1;
    while (sink == -1) {
      int64_t index = -1;
      double lowest = kInfinity;
      row_seen[i] = 1;
      const double* row_cost = cost.data() + i * nc;
      for (int64_t it = 0; it < num_remaining; ++it) {
        const int64_t j = remaining[it];
        const double r = min_val + row_cost[j] - u[i] - v[j];
        if (r < shortest_path_costs[j]) {
          path[j] = i;
          shortest_path_costs[j] = r;
        }
        // Among equally short paths prefer one ending in a free column: with
        // many ties (small integer costs) this ends searches much sooner.
        if (shortest_path_costs[j] < lowest ||
            (shortest_path_costs[j] == lowest && row4col[j] == -1)) {
          lowest = shortest_path_costs[j];
          index = it;
        }
      }
      min_val = lowest;
      // Unreachable with finite costs and nr <= nc; kept as a guard.
      if (index < 0 || min_val == kInfinity)
        fail(StatusCode::internal, "linear_sum_assignment: no augmenting path");
      const int64_t j = remaining[index];
      if (row4col[j] == -1)
        sink = j;
      else
        i = row4col[j];
      col_seen[j] = 1;
      remaining[index] = remaining[--num_remaining];
    }
    *min_value = min_val;
    return sink;
  }

  void solve() {
    for (int64_t current_row = 0; current_row < nr; ++current_row) {
      double min_val = 0;
      const int64_t sink = augmenting_path(current_row, &min_val);
      // Update the duals so that reduced costs stay non-negative and are
      // zero along the assignment.
      u[current_row] += min_val;
      for (int64_t i = 0; i < nr; ++i)
        if (row_seen[i] && i != current_row) u[i] += min_val - shortest_path_costs[col4row[i]];
      for (int64_t j = 0; j < nc; ++j)
        if (col_seen[j]) v[j] -= min_val - shortest_path_costs[j];
      // Flip the assignment along the path back from the sink.
      int64_t j = sink;
      while (true) {
        const int64_t i = path[j];
        row4col[j] = i;
        std::swap(col4row[i], j);
        if (i == current_row) break;
      }
    }
  }
};

}  // namespace

Assignment linear_sum_assignment(const double* cost, int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0)
    fail(StatusCode::invalid_argument, "linear_sum_assignment: negative matrix size ", rows, " x ",
         cols);
  Assignment result;
  if (rows == 0 || cols == 0) return result;
  if (cost == nullptr)
    fail(StatusCode::invalid_argument, "linear_sum_assignment: null cost matrix of size ", rows,
         " x ", cols);
  if (rows > INT_MAX || cols > INT_MAX || rows > std::numeric_limits<int64_t>::max() / cols)
    fail(StatusCode::invalid_argument, "linear_sum_assignment: matrix ", rows, " x ", cols,
         " is too large");
  for (int64_t k = 0; k < rows * cols; ++k)
    if (!std::isfinite(cost[k]))
      fail(StatusCode::invalid_argument, "linear_sum_assignment: cost[", k / cols, "][", k % cols,
           "] is ", cost[k], "; every cost must be finite");

  // The solver needs rows <= columns; a tall matrix is solved transposed.
  const bool transpose = cols < rows;
  const int64_t nr = transpose ? cols : rows, nc = transpose ? rows : cols;
  std::vector<double> work(static_cast<size_t>(nr * nc));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      work[transpose ? j * nc + i : i * nc + j] = cost[i * cols + j];

  Solver solver(nr, nc, work);
  solver.solve();

  result.rows.resize(nr);
  result.cols.resize(nr);
  if (transpose) {
    // Solver row r (an original column) got solver column col4row[r] (an
    // original row); order the pairs by original row.
    std::vector<int64_t> order(nr);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](int64_t a, int64_t b) { return solver.col4row[a] < solver.col4row[b]; });
    for (int64_t k = 0; k < nr; ++k) {
      result.rows[k] = static_cast<int>(solver.col4row[order[k]]);
      result.cols[k] = static_cast<int>(order[k]);
    }
  } else {
    for (int64_t k = 0; k < nr; ++k) {
      result.rows[k] = static_cast<int>(k);
      result.cols[k] = static_cast<int>(solver.col4row[k]);
    }
  }
  for (size_t k = 0; k < result.rows.size(); ++k)
    result.total_cost += cost[static_cast<int64_t>(result.rows[k]) * cols + result.cols[k]];
  return result;
}

Assignment linear_sum_assignment(const std::vector<double>& cost, int64_t rows, int64_t cols) {
  if (rows >= 0 && cols >= 0 &&
      static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols) != cost.size())
    fail(StatusCode::invalid_argument, "linear_sum_assignment: ", cost.size(),
         " costs given for a ", rows, " x ", cols, " matrix");
  return linear_sum_assignment(cost.data(), rows, cols);
}

}  // namespace visionrt::eval
