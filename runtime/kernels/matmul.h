#pragma once

#include <cstddef>

#include "runtime/kernels/activation_rounding.h"
#include "runtime/kernels/weight_matrix.h"

namespace shardlm {

class ThreadPool;

// y[t][r] = sum_c w[r][c] * x[t][c] for t < n_tokens; x is [n_tokens][w.cols], y is [n_tokens][w.rows],
// both dense f32. Few tokens (decode) read the weights once in their stored format (quantized codes
// included, never dequantized as a whole) with SIMD dot products split over the pool's threads; many
// tokens (prefill) take the matrix-matrix kernels of prefill_kernels.h where the CPU has them, or
// else widen or dequantize blocks of rows to f32 for OpenBLAS sgemm. Some kernels round the
// activations first (matmul_activation_rounding).
// Throws std::invalid_argument for a quantized w of unsupported bits or group size, or whose cols are
// not whole groups.
void matmul(ThreadPool& pool, const WeightMatrix& w, const float* x, std::size_t n_tokens, float* y);

// What matmul(pool, w, x, n_tokens, y) does to x with the active kernel set and settings.
ActivationRounding matmul_activation_rounding(const WeightMatrix& w, std::size_t n_tokens);

// The plain scalar definition of matmul, accumulating in double; the tests compare against it.
void matmul_reference(const WeightMatrix& w, const float* x, std::size_t n_tokens, float* y);

// Name of the SIMD kernel set chosen for this CPU at run time ("amx", "avx512bf16", "avx512", "avx2"
// or "scalar").
const char* matmul_kernel_name();

}  // namespace shardlm
