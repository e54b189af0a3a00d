#pragma once

#include <cstddef>

namespace shardlm {

// c = alpha * a * b (or a * b^T), row-major f32, on OpenBLAS sgemm and its threads (set_blas_threads):
// a is [m][k] with rows lda floats apart; b is [k][n] (ldb), or [n][k] (ldb) when transpose_b; c is
// [m][n] (ldc) and is overwritten. For f32 weights in prefill and for products of activations with
// activations (attention), where there are no stored weights for the dot and prefill kernels to read.
void matrix_product(std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a, std::size_t lda,
                    const float* b, std::size_t ldb, bool transpose_b, float* c, std::size_t ldc);

}  // namespace shardlm
