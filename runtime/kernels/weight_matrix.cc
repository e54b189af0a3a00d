#include "runtime/kernels/weight_matrix.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "runtime/quant/affine.h"

namespace shardlm {

namespace {

QuantSpec spec_of(const WeightMatrix& w) { return {w.quant.bits, w.quant.group_size}; }

float widen(DType dtype, const void* values, std::size_t i) {
  switch (dtype) {
    case DType::F32: return static_cast<const float*>(values)[i];
    case DType::F16: return f16_to_f32(static_cast<const std::uint16_t*>(values)[i]);
    case DType::BF16: return bf16_to_f32(static_cast<const std::uint16_t*>(values)[i]);
  }
  return NAN;
}

void require(bool condition, const std::string& message) {
  if (!condition) throw std::invalid_argument("weight matrix: " + message);
}

}  // namespace

void check_weight_matrix(const WeightMatrix& w) {
  const bool empty = w.rows == 0 || w.cols == 0;
  require(empty || w.data != nullptr, "no data");
  if (!w.quantized()) {
    require(w.row_stride >= w.cols || w.rows <= 1, "row stride " + std::to_string(w.row_stride) +
                                                       " is shorter than a row of " +
                                                       std::to_string(w.cols) + " elements");
    return;
  }
  validate_quant_row_length(spec_of(w), w.cols);
  const std::size_t words = packed_words(w.cols, w.quant.bits);
  const std::size_t groups = w.cols / static_cast<std::size_t>(w.quant.group_size);
  require(w.row_stride >= words || w.rows <= 1, "row stride " + std::to_string(w.row_stride) +
                                                    " words is shorter than a row of " +
                                                    std::to_string(words));
  require(w.quant.group_stride >= groups || w.rows <= 1,
          "group stride " + std::to_string(w.quant.group_stride) + " is shorter than a row of " +
              std::to_string(groups) + " groups");
  require(empty || (w.quant.scales != nullptr && w.quant.biases != nullptr), "no scales or biases");
}

std::size_t weight_bytes(const WeightMatrix& w) {
  if (!w.quantized()) return w.rows * w.cols * dtype_size(w.dtype);
  const std::size_t groups = w.cols / static_cast<std::size_t>(w.quant.group_size);
  return w.rows * (packed_words(w.cols, w.quant.bits) * sizeof(std::uint32_t) +
                   2 * groups * dtype_size(w.dtype));
}

WeightMatrix weight_block(const WeightMatrix& w, std::size_t row_begin, std::size_t n_rows,
                          std::size_t col_begin, std::size_t n_cols) {
  require(row_begin <= w.rows && n_rows <= w.rows - row_begin,
          "rows [" + std::to_string(row_begin) + ", +" + std::to_string(n_rows) + ") outside " +
              std::to_string(w.rows) + " rows");
  require(col_begin <= w.cols && n_cols <= w.cols - col_begin,
          "columns [" + std::to_string(col_begin) + ", +" + std::to_string(n_cols) + ") outside " +
              std::to_string(w.cols) + " columns");
  WeightMatrix block = w;
  block.rows = n_rows;
  block.cols = n_cols;
  if (!w.quantized()) {
    block.data = static_cast<const char*>(w.row(row_begin)) + col_begin * dtype_size(w.dtype);
    return block;
  }
  const auto group = static_cast<std::size_t>(w.quant.group_size);
  require(col_begin % group == 0 && n_cols % group == 0,
          "columns [" + std::to_string(col_begin) + ", +" + std::to_string(n_cols) +
              ") of a quantized matrix do not start and end on its groups of " +
              std::to_string(group));
  const std::size_t first_group = row_begin * w.quant.group_stride + col_begin / group;
  const std::size_t scale_size = dtype_size(w.dtype);
  block.data = static_cast<const char*>(w.row(row_begin)) +
               packed_words(col_begin, w.quant.bits) * sizeof(std::uint32_t);
  block.quant.scales = static_cast<const char*>(w.quant.scales) + first_group * scale_size;
  block.quant.biases = static_cast<const char*>(w.quant.biases) + first_group * scale_size;
  return block;
}

void prefetch_scales(const WeightMatrix& w, std::size_t first_row, std::size_t n_rows, std::size_t row_step) {
  if (!w.quantized()) return;
  constexpr std::size_t kLine = 64;
  const std::size_t element = dtype_size(w.dtype);
  const std::size_t row_bytes = w.cols / static_cast<std::size_t>(w.quant.group_size) * element;
  if (row_bytes == 0) return;
  const auto* scales = static_cast<const char*>(w.quant.scales);
  for (std::size_t i = 0, r = first_row; i < n_rows && r < w.rows; ++i, r += row_step) {
    const char* row = scales + r * w.quant.group_stride * element;
    for (std::size_t offset = 0; offset < row_bytes; offset += kLine) __builtin_prefetch(row + offset, 0, 3);
    // A row that does not start on a line can end on one more.
    __builtin_prefetch(row + row_bytes - 1, 0, 3);
  }
}

void widen_weight_row(const WeightMatrix& w, std::size_t r, float* out) {
  const void* row = w.row(r);
  if (!w.quantized()) {
    for (std::size_t c = 0; c < w.cols; ++c) out[c] = widen(w.dtype, row, c);
    return;
  }
  const auto group = static_cast<std::size_t>(w.quant.group_size);
  const std::size_t first_group = r * w.quant.group_stride;
  for (std::size_t c = 0; c < w.cols; ++c) {
    const std::size_t g = first_group + c / group;
    out[c] = dequantize_code(widen(w.dtype, w.quant.scales, g), widen(w.dtype, w.quant.biases, g),
                             packed_code(row, c, w.quant.bits));
  }
}

}  // namespace shardlm
