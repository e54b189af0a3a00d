#include <fmt/format.h>

#include <stdexcept>

#include "runtime/grad/gemm.h"
#include "runtime/grad/gradient_sink.h"

namespace shardlm::grad {

template <typename T>
DenseMatrix<T>& FullGradients<T>::matrix(const std::string& module, std::size_t rows, std::size_t cols) {
  DenseMatrix<T>& gradient = gradients_[module];
  if (gradient.values.empty()) {
    gradient.rows = rows;
    gradient.cols = cols;
    gradient.values.assign(rows * cols, T(0));
  }
  if (gradient.rows != rows || gradient.cols != cols) {
    throw std::logic_error(fmt::format("'{}' reported as [{}][{}] and as [{}][{}]", module, gradient.rows,
                                       gradient.cols, rows, cols));
  }
  return gradient;
}

template <typename T>
void FullGradients<T>::linear(const std::string& module, const T* dy, const T* x, std::size_t rows, std::size_t out,
                              std::size_t in) {
  DenseMatrix<T>& gradient = matrix(module, out, in);
  gemm<T>(true, false, out, in, rows, T(1), dy, out, x, in, T(1), gradient.values.data(), in);
}

template <typename T>
void FullGradients<T>::embedding(const std::string& module, std::span<const std::int32_t> tokens, const T* d_hidden,
                                 std::size_t vocab, std::size_t width) {
  DenseMatrix<T>& gradient = matrix(module, vocab, width);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    T* row = gradient.values.data() + static_cast<std::size_t>(tokens[i]) * width;
    for (std::size_t c = 0; c < width; ++c) row[c] += d_hidden[i * width + c];
  }
}

template class FullGradients<float>;
template class FullGradients<double>;

}  // namespace shardlm::grad
