#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "runtime/kernels/activation_rounding.h"
#include "runtime/kernels/weight_matrix.h"
#include "runtime/quant/affine.h"
#include "runtime/tensor/dtype.h"

namespace shardlm::quant_test {

// How a test matrix is laid out around the part under test.
struct QuantizedLayout {
  std::size_t groups_before = 0;  // junk groups before the view's first column, in every row
  std::size_t groups_after = 0;   // and after its last
  std::size_t byte_offset = 0;    // where the packed words start in their buffer (2: not 4-aligned)
};

// A quantized matrix as a model converter would write it: random f32 rows quantized by
// quantize_row, scales and biases rounded to `dtype`. The rows are stored wider than the view under
// test, with junk groups around it (codes all ones, scales and biases NaN), so that a kernel
// reading outside the view produces NaN.
class QuantizedMatrix {
 public:
  QuantizedMatrix(QuantSpec spec, DType dtype, std::size_t rows, std::size_t cols,
                  QuantizedLayout layout, std::mt19937& rng);

  // The whole stored matrix, junk groups included.
  WeightMatrix whole() const;
  // The rows x cols part under test, cut out of whole() with weight_block.
  WeightMatrix view() const;
  // The view dequantized from the stored codes, scales and biases by dequantize_row, [rows][cols].
  const std::vector<float>& dequantized() const { return dequantized_; }
  // The same as a dense f32 WeightMatrix.
  WeightMatrix dequantized_matrix() const;
  // sum_c (|scale| * q + |bias|) |x_c| for row r and a token: the size of the terms a kernel adds
  // up.
  double magnitude(std::size_t r, const float* x) const;
  // The most that a kernel rounding the activations as `rounding` says (activation_rounding.h) can
  // move row r's product with token x: sum_c |w_c| |x~_c - x_c|, w_c measured from the middle of
  // its group's codes for kInt8Groups.
  double rounding_bound(std::size_t r, const float* x, ActivationRounding rounding) const;
  std::string describe() const;

 private:
  QuantSpec spec_;
  DType dtype_;
  std::size_t rows_, cols_;
  QuantizedLayout layout_;
  std::size_t total_groups_, row_words_;
  std::vector<std::uint8_t> code_bytes_;
  std::vector<float> params_f32_;         // scales then biases, [rows][total_groups] each
  std::vector<std::uint16_t> params_16_;  // the same for f16 and bf16
  std::vector<float> dequantized_;
  std::vector<std::uint8_t> codes_;                     // the view's codes, [rows][cols]
  std::vector<float> widened_scales_, widened_biases_;  // the view's, [rows][cols / group]
};

std::vector<float> random_activations(std::size_t n, std::mt19937& rng);

}  // namespace shardlm::quant_test
