#pragma once

#include <cstddef>

namespace shardlm::grad {

// For each of `rows` rows of `vocab` logits: p = softmax(reference), q = softmax(logits), both as
// log-softmax in double, KL(p || q) = sum p (log p - log q). Returns the sum over rows of the KL, and
// writes d_logits = row_weight * (q - p), the gradient of row_weight * KL with respect to the logits
// (the reference gets none). d_logits may alias logits.
template <typename T>
double kl_divergence_backward(const T* logits, const T* reference, std::size_t rows, std::size_t vocab,
                              double row_weight, T* d_logits);

}  // namespace shardlm::grad
