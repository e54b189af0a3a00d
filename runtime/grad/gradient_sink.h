#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "runtime/grad/dense_weights.h"

namespace shardlm::grad {

// Receives the gradient of each weight as the backward pass reaches it, in factored form, so that a
// consumer that needs only a contraction of the gradient (the sensitivities) never forms it.
// A module may be reported several times in one pass (the LM head in chunks of rows, a tied table
// from both of its uses): the gradients add.
template <typename T>
class WeightGradientSink {
 public:
  virtual ~WeightGradientSink() = default;
  // The linear layer `module` (y = x W^T + b) over `rows` rows: its weight's gradient is dy^T x, with
  // dy [rows][out] and x [rows][in].
  virtual void linear(const std::string& module, const T* dy, const T* x, std::size_t rows, std::size_t out,
                      std::size_t in) = 0;
  // The embedding table `module` of `vocab` rows looked up at `tokens`: row tokens[i] of its gradient
  // gains d_hidden[i] (width values).
  virtual void embedding(const std::string& module, std::span<const std::int32_t> tokens, const T* d_hidden,
                         std::size_t vocab, std::size_t width) = 0;
};

// The whole gradient of every weight reported, accumulated: for tests and small models.
template <typename T>
class FullGradients final : public WeightGradientSink<T> {
 public:
  void linear(const std::string& module, const T* dy, const T* x, std::size_t rows, std::size_t out,
              std::size_t in) override;
  void embedding(const std::string& module, std::span<const std::int32_t> tokens, const T* d_hidden,
                 std::size_t vocab, std::size_t width) override;

  const std::map<std::string, DenseMatrix<T>>& gradients() const { return gradients_; }

 private:
  DenseMatrix<T>& matrix(const std::string& module, std::size_t rows, std::size_t cols);

  std::map<std::string, DenseMatrix<T>> gradients_;
};

}  // namespace shardlm::grad
