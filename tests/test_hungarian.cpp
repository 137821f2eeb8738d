// Minimum-cost assignment against scipy.optimize.linear_sum_assignment
// (tests/fixtures/detr/hungarian_cases.*, written by tools/fixtures/make_detr_fixtures.py),
// against brute force on small matrices, and on edge cases.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "eval/hungarian.hpp"
#include "visionrt/status.hpp"

namespace {

using visionrt::eval::Assignment;
using visionrt::eval::linear_sum_assignment;

const std::string kFixtureDir = std::string(VISIONRT_SOURCE_DIR) + "/tests/fixtures/detr/";

struct CostMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<double> values;
};

// The cost matrices are float64, a dtype the library's safetensors reader does
// not compute with, so the test reads the simple format itself: an 8-byte
// little-endian header length, a JSON header, then the data.
std::map<std::string, CostMatrix> read_f64_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t header_size = 0;
  for (int k = 7; k >= 0; --k)
    header_size = header_size << 8 | static_cast<unsigned char>(bytes.at(k));
  const auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + header_size);
  const char* data = bytes.data() + 8 + header_size;
  std::map<std::string, CostMatrix> out;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    EXPECT_EQ(info.at("dtype"), "F64") << name;
    CostMatrix m;
    m.rows = info.at("shape").at(0);
    m.cols = info.at("shape").at(1);
    const size_t begin = info.at("data_offsets").at(0), end = info.at("data_offsets").at(1);
    EXPECT_EQ(end - begin, static_cast<size_t>(m.rows * m.cols) * sizeof(double)) << name;
    m.values.resize(m.rows * m.cols);
    std::memcpy(m.values.data(), data + begin, end - begin);
    out[name] = std::move(m);
  }
  return out;
}

// A valid assignment: min(rows, cols) pairs, rows ascending and distinct,
// columns distinct and in range, total_cost the sum of the chosen entries.
void expect_valid(const Assignment& a, const std::vector<double>& cost, int64_t rows,
                  int64_t cols) {
  const size_t pairs = static_cast<size_t>(std::min(rows, cols));
  ASSERT_EQ(a.rows.size(), pairs);
  ASSERT_EQ(a.cols.size(), pairs);
  std::set<int> used_cols;
  double sum = 0;
  for (size_t k = 0; k < pairs; ++k) {
    ASSERT_GE(a.rows[k], 0);
    ASSERT_LT(a.rows[k], rows);
    ASSERT_GE(a.cols[k], 0);
    ASSERT_LT(a.cols[k], cols);
    if (k > 0) {
      ASSERT_LT(a.rows[k - 1], a.rows[k]);
    }
    used_cols.insert(a.cols[k]);
    sum += cost[static_cast<size_t>(a.rows[k]) * cols + a.cols[k]];
  }
  EXPECT_EQ(used_cols.size(), pairs);
  EXPECT_DOUBLE_EQ(a.total_cost, sum);
}

// The optimum by trying every injection of the smaller side into the larger.
double brute_force_cost(const std::vector<double>& cost, int rows, int cols) {
  const bool tall = rows > cols;
  const int small = tall ? cols : rows, large = tall ? rows : cols;
  std::vector<int> pick(large);
  std::iota(pick.begin(), pick.end(), 0);
  double best = std::numeric_limits<double>::infinity();
  do {
    double sum = 0;
    for (int k = 0; k < small; ++k)
      sum += tall ? cost[static_cast<size_t>(pick[k]) * cols + k]
                  : cost[static_cast<size_t>(k) * cols + pick[k]];
    best = std::min(best, sum);
  } while (std::next_permutation(pick.begin(), pick.end()));
  return best;
}

TEST(Hungarian, MatchesScipyOnEveryFixtureCase) {
  const auto matrices = read_f64_safetensors(kFixtureDir + "hungarian_cases.safetensors");
  std::ifstream json_file(kFixtureDir + "hungarian_cases.json");
  const auto cases = nlohmann::json::parse(json_file).at("cases");
  ASSERT_EQ(cases.size(), matrices.size());
  ASSERT_GE(cases.size(), 30u);
  double worst_relative = 0;
  int same_assignment = 0;
  for (const auto& c : cases) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name + " (" + c.at("kind").get<std::string>() + ")");
    const CostMatrix& m = matrices.at(name);
    ASSERT_EQ(m.rows, c.at("rows").get<int64_t>());
    ASSERT_EQ(m.cols, c.at("cols").get<int64_t>());
    const Assignment a = linear_sum_assignment(m.values, m.rows, m.cols);
    expect_valid(a, m.values, m.rows, m.cols);
    ASSERT_EQ(a.rows.size(), c.at("num_assigned").get<size_t>());
    // Relative to the magnitude of what is summed, so cancelling signs (the
    // "negative" and "integer_large" kinds) do not inflate the ratio.
    const double optimal = c.at("optimal_cost");
    double magnitude = 0;
    for (size_t k = 0; k < a.rows.size(); ++k)
      magnitude += std::abs(m.values[static_cast<size_t>(a.rows[k]) * m.cols + a.cols[k]]);
    const double relative = std::abs(a.total_cost - optimal) / std::max(1.0, magnitude);
    worst_relative = std::max(worst_relative, relative);
    EXPECT_LE(relative, 1e-9) << "cost " << a.total_cost << " vs scipy " << optimal;
    // The same algorithm with the same tie-breaking: the very same pairs,
    // even where ties allow several optimal assignments.
    const auto& scipy = c.at("one_optimal_assignment");
    const bool same = a.rows == scipy.at("rows").get<std::vector<int>>() &&
                      a.cols == scipy.at("cols").get<std::vector<int>>();
    EXPECT_TRUE(same) << "assignment differs from scipy's";
    same_assignment += same;
  }
  std::printf(
      "hungarian: %zu scipy cases, worst relative cost difference %.3g, %d identical "
      "assignments\n",
      cases.size(), worst_relative, same_assignment);
}

TEST(Hungarian, MatchesBruteForceOnSmallRandomMatrices) {
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<int> size(1, 6);
  std::uniform_real_distribution<double> value(-5.0, 5.0);
  std::uniform_int_distribution<int> small_int(0, 2);
  for (int trial = 0; trial < 300; ++trial) {
    const int rows = size(rng), cols = size(rng);
    std::vector<double> cost(static_cast<size_t>(rows) * cols);
    // Every third matrix has small integers: many ties.
    for (double& c : cost) c = trial % 3 == 0 ? small_int(rng) : value(rng);
    const Assignment a = linear_sum_assignment(cost, rows, cols);
    SCOPED_TRACE("trial " + std::to_string(trial) + ": " + std::to_string(rows) + " x " +
                 std::to_string(cols));
    expect_valid(a, cost, rows, cols);
    EXPECT_NEAR(a.total_cost, brute_force_cost(cost, rows, cols), 1e-12);
  }
}

TEST(Hungarian, HandCases) {
  // Greedy (row 0 takes its minimum, 1) would force a worse total.
  const std::vector<double> cost = {4, 1, 3, 2, 0, 5, 3, 2, 2};
  const Assignment a = linear_sum_assignment(cost, 3, 3);
  EXPECT_EQ(a.rows, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(a.cols, (std::vector<int>{1, 0, 2}));
  EXPECT_DOUBLE_EQ(a.total_cost, 5.0);

  // Negative costs are ordinary costs (DETR's matching cost is mostly negative).
  const std::vector<double> negative = {-1, -10, -10, -2};
  const Assignment b = linear_sum_assignment(negative, 2, 2);
  EXPECT_EQ(b.cols, (std::vector<int>{1, 0}));
  EXPECT_DOUBLE_EQ(b.total_cost, -20.0);
}

TEST(Hungarian, TiesGiveAnOptimalAssignment) {
  const std::vector<double> constant(4 * 4, 7.0);
  const Assignment a = linear_sum_assignment(constant, 4, 4);
  expect_valid(a, constant, 4, 4);
  EXPECT_DOUBLE_EQ(a.total_cost, 28.0);

  // Two optimal assignments of cost 2; either is fine.
  const std::vector<double> two_optima = {1, 1, 1, 1};
  const Assignment b = linear_sum_assignment(two_optima, 2, 2);
  expect_valid(b, two_optima, 2, 2);
  EXPECT_DOUBLE_EQ(b.total_cost, 2.0);
}

TEST(Hungarian, SingleRowAndSingleColumn) {
  const std::vector<double> row = {3.5, -1.25, 2.0, -1.0, 8.0};
  const Assignment wide = linear_sum_assignment(row, 1, 5);
  EXPECT_EQ(wide.rows, (std::vector<int>{0}));
  EXPECT_EQ(wide.cols, (std::vector<int>{1}));
  EXPECT_DOUBLE_EQ(wide.total_cost, -1.25);

  const Assignment tall = linear_sum_assignment(row, 5, 1);
  EXPECT_EQ(tall.rows, (std::vector<int>{1}));
  EXPECT_EQ(tall.cols, (std::vector<int>{0}));
  EXPECT_DOUBLE_EQ(tall.total_cost, -1.25);
}

TEST(Hungarian, TallMatrixPairsAreSortedByRow) {
  // Rows 4, 0 and 2 hold each column's unique zero; the pairs come back by row.
  const std::vector<double> cost = {5, 0, 5, 5, 5, 5, 5, 5, 0, 5, 5, 5, 0, 5, 5};
  const Assignment a = linear_sum_assignment(cost, 5, 3);
  EXPECT_EQ(a.rows, (std::vector<int>{0, 2, 4}));
  EXPECT_EQ(a.cols, (std::vector<int>{1, 2, 0}));
  EXPECT_DOUBLE_EQ(a.total_cost, 0.0);
}

TEST(Hungarian, EmptyMatrices) {
  for (auto [rows, cols] : {std::pair<int, int>{0, 0}, {0, 5}, {5, 0}}) {
    const Assignment a = linear_sum_assignment(std::vector<double>{}, rows, cols);
    EXPECT_TRUE(a.rows.empty());
    EXPECT_TRUE(a.cols.empty());
    EXPECT_EQ(a.total_cost, 0.0);
  }
  EXPECT_TRUE(linear_sum_assignment(nullptr, 0, 3).rows.empty());
}

TEST(Hungarian, RejectsInvalidCostsAndSizes) {
  auto expect_invalid = [](const std::vector<double>& cost, int64_t rows, int64_t cols,
                           const std::string& fragment) {
    try {
      linear_sum_assignment(cost, rows, cols);
      ADD_FAILURE() << "no error for " << fragment;
    } catch (const visionrt::Error& e) {
      EXPECT_EQ(e.code(), visionrt::StatusCode::invalid_argument);
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  expect_invalid({1, 2, nan, 4}, 2, 2, "cost[1][0]");
  expect_invalid({1, inf, 3, 4}, 2, 2, "cost[0][1]");
  expect_invalid({1, 2, 3, -inf}, 2, 2, "cost[1][1]");
  expect_invalid({1, 2, 3}, 2, 2, "3 costs given for a 2 x 2 matrix");
  expect_invalid({}, -1, 2, "negative");
  try {
    linear_sum_assignment(nullptr, 2, 2);
    ADD_FAILURE() << "no error for a null matrix";
  } catch (const visionrt::Error& e) {
    EXPECT_EQ(e.code(), visionrt::StatusCode::invalid_argument);
  }
}

TEST(Hungarian, LargerMatrixKeepsItsOptimumUnderPermutationAndTransposition) {
  // A 60 x 150 problem: far beyond brute force, so check against an
  // independent bound instead. Permuting columns must not change the optimum,
  // and the result must beat (or tie) greedy row-by-row assignment.
  std::mt19937 rng(99);
  std::uniform_real_distribution<double> value(0.0, 100.0);
  const int rows = 60, cols = 150;
  std::vector<double> cost(static_cast<size_t>(rows) * cols);
  for (double& c : cost) c = value(rng);
  const Assignment a = linear_sum_assignment(cost, rows, cols);
  expect_valid(a, cost, rows, cols);

  std::vector<int> permutation(cols);
  std::iota(permutation.begin(), permutation.end(), 0);
  std::shuffle(permutation.begin(), permutation.end(), rng);
  std::vector<double> permuted(cost.size());
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      permuted[static_cast<size_t>(i) * cols + permutation[j]] =
          cost[static_cast<size_t>(i) * cols + j];
  EXPECT_NEAR(linear_sum_assignment(permuted, rows, cols).total_cost, a.total_cost, 1e-9);

  // Transposing must not change it either.
  std::vector<double> transposed(cost.size());
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      transposed[static_cast<size_t>(j) * rows + i] = cost[static_cast<size_t>(i) * cols + j];
  EXPECT_NEAR(linear_sum_assignment(transposed, cols, rows).total_cost, a.total_cost, 1e-9);

  std::vector<char> taken(cols, 0);
  double greedy = 0;
  for (int i = 0; i < rows; ++i) {
    int best = -1;
    for (int j = 0; j < cols; ++j)
      if (!taken[j] && (best < 0 || cost[static_cast<size_t>(i) * cols + j] <
                                        cost[static_cast<size_t>(i) * cols + best]))
        best = j;
    taken[best] = 1;
    greedy += cost[static_cast<size_t>(i) * cols + best];
  }
  EXPECT_LE(a.total_cost, greedy + 1e-9);
}

}  // namespace
