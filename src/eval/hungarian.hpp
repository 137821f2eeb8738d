// Minimum-cost assignment (the linear sum assignment problem) for rectangular
// cost matrices, as scipy.optimize.linear_sum_assignment solves it.
#pragma once
#include <cstdint>
#include <vector>

namespace visionrt::eval {

struct Assignment {
  // Row i is assigned to column cols[k] where rows[k] == i; rows ascend,
  // like scipy's row_ind / col_ind. min(rows, cols) pairs.
  std::vector<int> rows, cols;
  double total_cost = 0;  // sum of the assigned entries
};

// Assigns each row to a distinct column (or each column to a distinct row
// when there are fewer columns) minimising the total cost. `cost` is
// row-major rows x cols. Shortest augmenting paths with dual variables
// (Jonker-Volgenant, in Crouse's rectangular form that scipy implements):
// O(min(n, m)^2 * max(n, m)) time, double precision. With ties the returned
// assignment is the one scipy returns. An empty matrix (0 rows or 0 columns)
// gives an empty assignment. Throws invalid_argument for negative sizes, a
// null pointer with a non-empty size, or NaN/infinite costs.
Assignment linear_sum_assignment(const double* cost, int64_t rows, int64_t cols);
Assignment linear_sum_assignment(const std::vector<double>& cost, int64_t rows, int64_t cols);

}  // namespace visionrt::eval
