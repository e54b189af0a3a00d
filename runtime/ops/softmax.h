#pragma once

#include <cstddef>

namespace shardlm {

// In-place softmax over n values, computed stably by subtracting the maximum, by the active kernel
// set (its exponential within 2 ulp of e^x on AVX-512).
void softmax(float* values, std::size_t n);

// log(sum(exp(values))), computed stably; the basis of log-softmax and negative log-likelihoods.
double log_sum_exp(const float* values, std::size_t n);

}  // namespace shardlm
