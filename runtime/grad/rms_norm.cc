#include "runtime/grad/rms_norm.h"

#include <cmath>

namespace shardlm::grad {

namespace {

template <typename T>
T inverse_rms(const T* row, std::size_t dim, T eps) {
  T sum_squares = 0;
  for (std::size_t i = 0; i < dim; ++i) sum_squares += row[i] * row[i];
  return T(1) / std::sqrt(sum_squares / static_cast<T>(dim) + eps);
}

}  // namespace

template <typename T>
void rms_norm_forward(const T* x, const T* weight, std::size_t rows, std::size_t dim, T eps, T* y) {
  for (std::size_t r = 0; r < rows; ++r) {
    const T* row = x + r * dim;
    const T scale = inverse_rms(row, dim, eps);
    for (std::size_t i = 0; i < dim; ++i) y[r * dim + i] = weight[i] * (row[i] * scale);
  }
}

template <typename T>
void rms_norm_backward(const T* x, const T* weight, const T* dy, std::size_t rows, std::size_t dim, T eps, T* dx) {
  for (std::size_t r = 0; r < rows; ++r) {
    const T* row = x + r * dim;
    const T* d_out = dy + r * dim;
    const T scale = inverse_rms(row, dim, eps);
    T projection = 0;
    for (std::size_t i = 0; i < dim; ++i) projection += weight[i] * d_out[i] * row[i];
    const T correction = scale * scale * scale * projection / static_cast<T>(dim);
    for (std::size_t i = 0; i < dim; ++i) dx[r * dim + i] = scale * weight[i] * d_out[i] - row[i] * correction;
  }
}

template void rms_norm_forward<float>(const float*, const float*, std::size_t, std::size_t, float, float*);
template void rms_norm_forward<double>(const double*, const double*, std::size_t, std::size_t, double, double*);
template void rms_norm_backward<float>(const float*, const float*, const float*, std::size_t, std::size_t, float,
                                       float*);
template void rms_norm_backward<double>(const double*, const double*, const double*, std::size_t, std::size_t, double,
                                        double*);

}  // namespace shardlm::grad
