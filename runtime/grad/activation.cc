#include "runtime/grad/activation.h"

#include <cmath>

namespace shardlm::grad {

namespace {

template <typename T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

}  // namespace

template <typename T>
void silu_mul_forward(const T* gate, const T* up, std::size_t n, T* out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

template <typename T>
void silu_mul_backward(const T* gate, const T* up, const T* d_out, std::size_t n, T* d_gate, T* d_up) {
  for (std::size_t i = 0; i < n; ++i) {
    const T g = gate[i];
    const T s = sigmoid(g);
    d_gate[i] = d_out[i] * up[i] * s * (T(1) + g * (T(1) - s));
    d_up[i] = d_out[i] * g * s;
  }
}

template void silu_mul_forward<float>(const float*, const float*, std::size_t, float*);
template void silu_mul_forward<double>(const double*, const double*, std::size_t, double*);
template void silu_mul_backward<float>(const float*, const float*, const float*, std::size_t, float*, float*);
template void silu_mul_backward<double>(const double*, const double*, const double*, std::size_t, double*, double*);

}  // namespace shardlm::grad
