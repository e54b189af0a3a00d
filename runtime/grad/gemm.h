#pragma once

#include <cstddef>

namespace shardlm::grad {

// C[m][n] = alpha * op(A) * op(B) + beta * C, row-major, op(X) = X or its transpose: OpenBLAS sgemm for
// float, dgemm for double (the finite-difference tests run the whole gradient pass in double).
// A is [m][k] (or [k][m] when transposed), B is [k][n] (or [n][k]); lda, ldb, ldc are row strides.
template <typename T>
void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
          std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc);

}  // namespace shardlm::grad
