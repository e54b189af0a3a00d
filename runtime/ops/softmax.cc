#include "runtime/ops/softmax.h"

#include <algorithm>
#include <cmath>

namespace shardlm {

void softmax(float* values, std::size_t n) {
  if (n == 0) return;
  const float maximum = *std::max_element(values, values + n);
  float sum = 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    values[i] = std::exp(values[i] - maximum);
    sum += values[i];
  }
  const float inverse = 1.0f / sum;
  for (std::size_t i = 0; i < n; ++i) values[i] *= inverse;
}

double log_sum_exp(const float* values, std::size_t n) {
  if (n == 0) return -INFINITY;
  const double maximum = *std::max_element(values, values + n);
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(values[i]) - maximum);
  return maximum + std::log(sum);
}

}  // namespace shardlm
