#include <memory>

#include "runtime/kernels/matmul.h"

namespace shardlm {

void matmul_reference(const WeightMatrix& w, const float* x, std::size_t n_tokens, float* y) {
  const auto row = std::make_unique<float[]>(w.cols);
  for (std::size_t r = 0; r < w.rows; ++r) {
    widen_weight_row(w, r, row.get());
    for (std::size_t t = 0; t < n_tokens; ++t) {
      const float* token = x + t * w.cols;
      double sum = 0.0;
      for (std::size_t c = 0; c < w.cols; ++c)
        sum += static_cast<double>(row[c]) * static_cast<double>(token[c]);
      y[t * w.rows + r] = static_cast<float>(sum);
    }
  }
}

}  // namespace shardlm
