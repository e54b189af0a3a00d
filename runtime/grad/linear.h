#pragma once

#include <cstddef>

namespace shardlm::grad {

// A linear layer y = x W^T + b over `rows` rows, W being [out][in] row-major (a Hugging Face
// nn.Linear weight) and bias null or `out` values.
template <typename T>
void linear_forward(const T* x, const T* weight, const T* bias, std::size_t rows, std::size_t out, std::size_t in,
                    T* y);

// The gradient with respect to the input: dx = dy W, written over dx or, with accumulate, added to it
// (q, k and v read the same input, and their gradients meet there). The bias does not enter it; the
// weight's own gradient, dW = dy^T x, is left to a WeightGradientSink.
template <typename T>
void linear_backward_input(const T* dy, const T* weight, std::size_t rows, std::size_t out, std::size_t in, T* dx,
                           bool accumulate);

}  // namespace shardlm::grad
