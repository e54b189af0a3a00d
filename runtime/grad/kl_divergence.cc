#include "runtime/grad/kl_divergence.h"

#include <algorithm>
#include <cmath>

namespace shardlm::grad {

namespace {

template <typename T>
double log_sum_exp(const T* values, std::size_t n) {
  double largest = -INFINITY;
  for (std::size_t i = 0; i < n; ++i) largest = std::max(largest, static_cast<double>(values[i]));
  double total = 0.0;
  for (std::size_t i = 0; i < n; ++i) total += std::exp(static_cast<double>(values[i]) - largest);
  return largest + std::log(total);
}

}  // namespace

template <typename T>
double kl_divergence_backward(const T* logits, const T* reference, std::size_t rows, std::size_t vocab,
                              double row_weight, T* d_logits) {
  double total = 0.0;
  for (std::size_t r = 0; r < rows; ++r) {
    const T* model_row = logits + r * vocab;
    const T* reference_row = reference + r * vocab;
    const double model_lse = log_sum_exp(model_row, vocab);
    const double reference_lse = log_sum_exp(reference_row, vocab);
    double kl = 0.0;
    T* d_row = d_logits + r * vocab;
    for (std::size_t i = 0; i < vocab; ++i) {
      const double log_p = static_cast<double>(reference_row[i]) - reference_lse;
      const double log_q = static_cast<double>(model_row[i]) - model_lse;
      const double p = std::exp(log_p);
      kl += p * (log_p - log_q);
      d_row[i] = static_cast<T>(row_weight * (std::exp(log_q) - p));
    }
    total += kl;
  }
  return total;
}

template double kl_divergence_backward<float>(const float*, const float*, std::size_t, std::size_t, double, float*);
template double kl_divergence_backward<double>(const double*, const double*, std::size_t, std::size_t, double,
                                               double*);

}  // namespace shardlm::grad
