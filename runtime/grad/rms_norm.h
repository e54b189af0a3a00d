#pragma once

#include <cstddef>

namespace shardlm::grad {

// y = w * x / sqrt(mean(x^2) + eps) over each of `rows` rows of `dim` values (the decoder's norms, and
// Qwen3's per-head q/k norms with one row per head). y may alias x.
template <typename T>
void rms_norm_forward(const T* x, const T* weight, std::size_t rows, std::size_t dim, T eps, T* y);

// dx of that norm given dy, from the forward's input x: with r = 1 / sqrt(mean(x^2) + eps),
// dx = r (w * dy) - x r^3 mean(w * dy * x). Overwrites dx, which must not alias x or dy.
template <typename T>
void rms_norm_backward(const T* x, const T* weight, const T* dy, std::size_t rows, std::size_t dim, T eps, T* dx);

}  // namespace shardlm::grad
