#include "runtime/grad/linear.h"

#include "runtime/grad/gemm.h"

namespace shardlm::grad {

template <typename T>
void linear_forward(const T* x, const T* weight, const T* bias, std::size_t rows, std::size_t out, std::size_t in,
                    T* y) {
  gemm<T>(false, true, rows, out, in, T(1), x, in, weight, in, T(0), y, out);
  if (bias == nullptr) return;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t o = 0; o < out; ++o) y[r * out + o] += bias[o];
  }
}

template <typename T>
void linear_backward_input(const T* dy, const T* weight, std::size_t rows, std::size_t out, std::size_t in, T* dx,
                           bool accumulate) {
  gemm<T>(false, false, rows, in, out, T(1), dy, out, weight, in, accumulate ? T(1) : T(0), dx, in);
}

template void linear_forward<float>(const float*, const float*, const float*, std::size_t, std::size_t, std::size_t,
                                    float*);
template void linear_forward<double>(const double*, const double*, const double*, std::size_t, std::size_t,
                                     std::size_t, double*);
template void linear_backward_input<float>(const float*, const float*, std::size_t, std::size_t, std::size_t, float*,
                                           bool);
template void linear_backward_input<double>(const double*, const double*, std::size_t, std::size_t, std::size_t,
                                            double*, bool);

}  // namespace shardlm::grad
