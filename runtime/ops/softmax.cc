#include "runtime/ops/softmax.h"

#include <algorithm>
#include <cmath>

#include "runtime/kernels/dot_kernels.h"

namespace shardlm {

void softmax(float* values, std::size_t n) { active_dot_kernels().softmax(values, n); }

double log_sum_exp(const float* values, std::size_t n) {
  if (n == 0) return -INFINITY;
  const double maximum = *std::max_element(values, values + n);
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(values[i]) - maximum);
  return maximum + std::log(sum);
}

}  // namespace shardlm
