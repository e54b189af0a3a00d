#pragma once

#include <cstddef>

#include "runtime/tensor/dtype.h"

namespace shardlm {

class ThreadPool;

// A weight matrix in its stored dtype, row-major [rows][cols]: rows are output features, cols input
// features (the layout of a Hugging Face nn.Linear weight). Rows are row_stride elements apart, so a
// view can cover a contiguous block of rows or columns of a bigger matrix.
struct WeightMatrix {
  DType dtype = DType::F32;
  const void* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t row_stride = 0;  // elements; equals cols for a dense matrix

  const void* row(std::size_t r) const {
    return static_cast<const char*>(data) + r * row_stride * dtype_size(dtype);
  }
};

// y[t][r] = sum_c w[r][c] * x[t][c] for t < n_tokens; x is [n_tokens][w.cols], y is [n_tokens][w.rows],
// both dense f32. Few tokens (decode) read the weights once in their stored dtype with SIMD dot
// products split over the pool's threads; many tokens (prefill) go through OpenBLAS sgemm.
void matmul(ThreadPool& pool, const WeightMatrix& w, const float* x, std::size_t n_tokens, float* y);

// The plain scalar definition of matmul, accumulating in double; the tests compare against it.
void matmul_reference(const WeightMatrix& w, const float* x, std::size_t n_tokens, float* y);

// Name of the SIMD kernel set chosen for this CPU at run time ("avx512", "avx2" or "scalar").
const char* matmul_kernel_name();

}  // namespace shardlm
