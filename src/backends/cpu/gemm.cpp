#include "backends/cpu/gemm.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/thread_pool.hpp"
#if VISIONRT_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

namespace visionrt::cpu {
namespace {

// Dot products of 4 rows of A with 4 rows of B. Eight partial sums per pair
// let the compiler vectorise the K loop without reassociating on its own.
void block_4x4(int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
               int64_t ldc, int64_t rows, int64_t cols) {
  float acc[4][4][8] = {};
  const int64_t k8 = K / 8 * 8;
  for (int64_t k = 0; k < k8; k += 8)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        const float* a = A + i * lda + k;
        const float* b = B + j * ldb + k;
        for (int l = 0; l < 8; ++l) acc[i][j][l] += a[l] * b[l];
      }
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      float s = 0.f;
      for (int l = 0; l < 8; ++l) s += acc[i][j][l];
      for (int64_t k = k8; k < K; ++k) s += A[i * lda + k] * B[j * ldb + k];
      C[i * ldc + j] = s;
    }
}

}  // namespace

void gemm_nt_blocked(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                  int64_t ldb, float* C, int64_t ldc, ThreadPool* pool) {
  // Column panels of B small enough to stay in cache while rows of A stream.
  constexpr int64_t kPanel = 64;
  const int64_t row_blocks = (M + 3) / 4;
  auto work = [&](int64_t rb0, int64_t rb1) {
    for (int64_t n0 = 0; n0 < N; n0 += kPanel) {
      const int64_t n1 = std::min(N, n0 + kPanel);
      for (int64_t rb = rb0; rb < rb1; ++rb) {
        const int64_t i = rb * 4, rows = std::min<int64_t>(4, M - i);
        for (int64_t j = n0; j < n1; j += 4)
          block_4x4(K, A + i * lda, lda, B + j * ldb, ldb, C + i * ldc + j, ldc, rows,
                    std::min<int64_t>(4, n1 - j));
      }
    }
  };
  if (pool)
    pool->parallel_for(row_blocks, 1, work);
  else
    work(0, row_blocks);
}

void gemm_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc, ThreadPool* pool) {
  if (M == 0 || N == 0) return;
#if VISIONRT_HAVE_ONEDNN
  if (pool) pool->bind_calling_thread();  // oneDNN's OpenMP threads: as many as the pool
  const dnnl_status_t st = dnnl_sgemm('N', 'T', M, N, K, 1.f, A, lda, B, ldb, 0.f, C, ldc);
  if (st != dnnl_success) fail(StatusCode::internal, "oneDNN sgemm failed with status ", int(st));
#else
  gemm_nt_blocked(M, N, K, A, lda, B, ldb, C, ldc, pool);
#endif
}

}  // namespace visionrt::cpu
