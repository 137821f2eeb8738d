// Single-precision matrix product on the CPU: C[M,N] = A[M,K] * B[N,K]^T.
// B is stored as PyTorch stores Linear weights (one row per output).
#pragma once
#include <cstdint>

namespace visionrt {
class ThreadPool;
}

namespace visionrt::cpu {

// Row strides lda, ldb, ldc are in elements. Uses oneDNN's sgemm when built
// with it, else a blocked kernel threaded over `pool`.
void gemm_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc, ThreadPool* pool);

// The built-in blocked kernel, whichever gemm_nt uses (tested on its own).
void gemm_nt_blocked(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                     const float* B, int64_t ldb, float* C, int64_t ldc, ThreadPool* pool);

}  // namespace visionrt::cpu
