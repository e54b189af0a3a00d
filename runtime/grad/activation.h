#pragma once

#include <cstddef>

namespace shardlm::grad {

// The gated MLP's activation out = silu(gate) * up, silu(g) = g * sigmoid(g).
template <typename T>
void silu_mul_forward(const T* gate, const T* up, std::size_t n, T* out);

// Its gradients from d_out: d_gate = d_out * up * sigmoid(g) * (1 + g (1 - sigmoid(g))) and
// d_up = d_out * silu(g).
template <typename T>
void silu_mul_backward(const T* gate, const T* up, const T* d_out, std::size_t n, T* d_gate, T* d_up);

}  // namespace shardlm::grad
